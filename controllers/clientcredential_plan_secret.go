package controllers

import (
	"bytes"
	"fmt"
	"time"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/publickeys"
	"github.com/signet-iam/signet/internal/record"
)

// planWorkload decides the secret the workload Secret must hold: the one it
// holds, or a new one on first issue, rotation, repair, or when the one it
// holds was issued before the record's not-before.
func planWorkload(s *snapshot, o *outcome, rec, prev *record.Record) (*workload, error) {
	obj := s.obj
	key := valueKey(obj)
	var (
		current  workload
		clientID string
	)
	if ws := s.workloadSecret; ws != nil {
		current = workload{value: string(ws.Data[key]), issuance: parseIssuance(ws.Annotations)}
		clientID = string(ws.Data[keyClientID])
	}
	trigger := ""
	if obj.Spec.Rotation != nil {
		trigger = obj.Spec.Rotation.Trigger
	}
	var reason string
	switch {
	case obj.Spec.Revoked:
		// The secret is removed: nothing usable remains in the cluster.
		return &workload{issuance: issuance{issuedAt: current.issuedAt, reason: iamv1.RevokedReason, trigger: trigger}}, nil
	case key == "":
		// Supplied public keys or Federated: Signet holds no secret.
		return &workload{issuance: issuance{issuedAt: obj.CreationTimestamp.Time, reason: iamv1.IssuedReason, trigger: trigger}}, nil
	case current.value == "":
		reason = iamv1.IssuedReason
		if prev != nil && (len(prev.Secrets) > 0 || len(prev.PublicKeys) > 0) {
			reason = iamv1.RepairedReason
		}
		return newWorkload(s, o, reason, trigger, nil)
	}
	if reason = distrust(s, rec, prev, current, clientID); reason != "" {
		return newWorkload(s, o, reason, trigger, nil)
	}
	if m := currentMaterial(prev); m != nil && m.issuedAt != nil && matchesValue(s, *m, current.value) {
		// The record, which tenants cannot write, says when it was issued:
		// an edited annotation never extends its validity.
		current.issuedAt = *m.issuedAt
	}
	if current.trigger != trigger || rotationDue(obj, current.issuedAt, o.now) {
		return newWorkload(s, o, iamv1.RotatedReason, trigger, graceEnd(obj, o.now))
	}
	// Re-bound under this client_id, in case the digest was of an older form.
	current.digest = s.hasher.Hash(credential.BindingDomain, bindingInput(s.clientID, current.issuedAt, current.value))
	return &current, nil
}

// distrust says why the workload Secret's secret must be replaced, or ""
// when it may stay. It stays only when it was issued for this client_id no
// earlier than the record's not-before, and either it is the record's
// current secret or its binding digest (over client_id, issue time and
// value) shows Signet wrote it. So a secret left behind by a deleted
// credential of the same name, one issued before an account was replaced,
// or one edited in by hand is never adopted.
func distrust(s *snapshot, rec, prev *record.Record, current workload, clientID string) string {
	if clientID != s.clientID || current.issuedAt.IsZero() {
		return iamv1.ReissuedReason
	}
	if m := currentMaterial(prev); m != nil && matchesValue(s, *m, current.value) {
		if !issuedSince(m.issuedAt, rec.NotBefore) {
			return iamv1.ReissuedReason
		}
		return ""
	}
	ok, err := s.hasher.Verify(credential.BindingDomain, bindingInput(s.clientID, current.issuedAt, current.value), current.digest)
	if !ok || err != nil {
		return iamv1.RepairedReason
	}
	if !issuedSince(&current.issuedAt, rec.NotBefore) {
		return iamv1.ReissuedReason
	}
	return ""
}

// bindingInput is what the workload Secret's digest covers.
func bindingInput(clientID string, issuedAt time.Time, value string) string {
	return clientID + "\n" + issuedAt.UTC().Format(time.RFC3339Nano) + "\n" + value
}

// issuedSince is the record's acceptance rule: issued no earlier than
// notBefore (a version 1 record has none).
func issuedSince(issuedAt, notBefore *time.Time) bool {
	return notBefore == nil || (issuedAt != nil && !issuedAt.Before(*notBefore))
}

func newWorkload(s *snapshot, o *outcome, reason, trigger string, graceUntil *time.Time) (*workload, error) {
	var (
		value string
		err   error
	)
	switch s.obj.Spec.Type {
	case iamv1.APIKeyType:
		value, err = credential.GenerateSecret(credential.APIKeyKind)
	case iamv1.PrivateKeyJWTType:
		value, err = publickeys.GeneratePrivateKeyPEM()
	default:
		value, err = credential.GenerateSecret(credential.ClientSecretKind)
	}
	if err != nil {
		return nil, err
	}
	// Never before the not-before, which a kill may have set just past
	// now: a new secret must be valid.
	issuedAt := o.now
	if nb := o.notBefore; nb != nil && nb.After(issuedAt) {
		issuedAt = *nb
	}
	return &workload{value: value, issuance: issuance{
		issuedAt:   issuedAt,
		reason:     reason,
		trigger:    trigger,
		graceUntil: graceUntil,
		digest:     s.hasher.Hash(credential.BindingDomain, bindingInput(s.clientID, issuedAt, value)),
	}}, nil
}

// material is an accepted secret hash or generated public key of a record,
// in one shape, so that one rollover serves both.
type material struct {
	hash     string // a secret's keyed hash
	jwk      []byte // a generated key's public JWK
	issuedAt *time.Time
	notAfter *time.Time
}

// materialOf lists a record's secrets, or its public keys for a credential
// whose key pair Signet generates.
func materialOf(rec *record.Record) []material {
	if rec == nil {
		return nil
	}
	var out []material
	for _, h := range rec.Secrets {
		out = append(out, material{hash: h.Hash, issuedAt: h.IssuedAt, notAfter: h.NotAfter})
	}
	for _, k := range rec.PublicKeys {
		out = append(out, material{jwk: k.JWK, issuedAt: k.IssuedAt, notAfter: k.NotAfter})
	}
	return out
}

// currentMaterial is the record's current secret or key: the one without a
// grace deadline.
func currentMaterial(rec *record.Record) *material {
	for _, m := range materialOf(rec) {
		if m.notAfter == nil {
			return &m
		}
	}
	return nil
}

// matchesValue reports whether m is the record's form of the workload value.
func matchesValue(s *snapshot, m material, value string) bool {
	if m.jwk != nil {
		key, err := publickeys.FromPrivateKeyPEM(value)
		return err == nil && bytes.Equal(key.JWK, m.jwk)
	}
	ok, err := s.hasher.Verify(credential.SecretDomain, value, m.hash)
	return ok && err == nil
}

// freshMaterial is the record's form of the workload's secret.
func freshMaterial(s *snapshot, w *workload) (material, error) {
	issued := w.issuedAt.UTC()
	if s.obj.Spec.Type != iamv1.PrivateKeyJWTType {
		return material{hash: s.hasher.Hash(credential.SecretDomain, w.value), issuedAt: &issued}, nil
	}
	key, err := publickeys.FromPrivateKeyPEM(w.value)
	if err != nil {
		return material{}, fmt.Errorf("reading the generated key pair: %w", err)
	}
	return material{jwk: key.JWK, issuedAt: &issued}, nil
}

// planMaterial sets the record's accepted secrets or keys.
func planMaterial(s *snapshot, o *outcome, rec, prev *record.Record) error {
	switch {
	case s.obj.Spec.Type == iamv1.FederatedType:
		planFederation(s, o, rec, prev)
		return nil
	case rec.Revoked:
		return nil
	case s.obj.Spec.PublicKeys != nil:
		suppliedKeys(s, o, rec, prev)
		return nil
	case o.workload.value == "":
		return nil
	}
	fresh, err := freshMaterial(s, o.workload)
	if err != nil {
		return err
	}
	for _, m := range rollover(s, o, rec, materialOf(prev), fresh) {
		if m.jwk != nil {
			rec.PublicKeys = append(rec.PublicKeys, record.PublicKey{JWK: m.jwk, IssuedAt: m.issuedAt, NotAfter: m.notAfter})
		} else {
			rec.Secrets = append(rec.Secrets, record.SecretHash{Hash: m.hash, IssuedAt: m.issuedAt, NotAfter: m.notAfter})
		}
	}
	return nil
}

// rollover is the one place that decides which secrets or keys a record
// accepts, after the workload Secret was (re)written:
//   - the current one unchanged: keep it, and a previous one still in grace;
//   - a new one: the old current one stays in grace until the earliest of
//     the grace deadline and its own expiry (grace never revives an expired
//     secret), or, without grace, is dropped and both not-before times move
//     to the new secret's issue time, so its tokens die with it.
//
// Nothing issued before the record's not-before survives. Everything it
// reads was written before (the workload Secret and the old record), so a
// crash at any point re-derives the same result.
func rollover(s *snapshot, o *outcome, rec *record.Record, previous []material, fresh material) []material {
	var current *material
	for i := range previous {
		if previous[i].notAfter == nil && issuedSince(previous[i].issuedAt, rec.NotBefore) {
			current = &previous[i]
			break
		}
	}
	// Compared by verifying, not by hash string: a hash made under an
	// earlier hash key still names the same secret.
	if current != nil && matchesValue(s, *current, o.workload.value) {
		kept := *current
		if kept.issuedAt == nil { // from a version 1 record
			kept.issuedAt = fresh.issuedAt
		}
		out := []material{kept}
		for _, p := range previous {
			if p.notAfter == nil || !issuedSince(p.issuedAt, rec.NotBefore) {
				continue
			}
			if keepPrevious(s, o, kept, p) {
				out = append(out, p)
			}
		}
		return out
	}
	out := []material{fresh}
	if current == nil {
		return out
	}
	w := o.workload
	if w.graceUntil == nil {
		bump(&rec.NotBefore, w.issuedAt)
		bump(&rec.TokensNotBefore, w.issuedAt)
		return out
	}
	end := graceLimit(s.obj, w, current.issuedAt)
	if o.now.Before(end) {
		p := *current
		p.notAfter = &end
		if p.issuedAt == nil {
			p.issuedAt = rec.NotBefore
		}
		out = append(out, p)
		o.schedule(end)
	}
	return out
}

// graceLimit is when a previous secret issued at prevIssued stops being
// accepted after the rotation w: the grace deadline w carries, but never
// later than the grace period the spec allows from the rotation, nor than
// the previous secret's own validity.
func graceLimit(obj *iamv1.ClientCredential, w *workload, prevIssued *time.Time) time.Time {
	end := *w.graceUntil
	if g := graceEnd(obj, w.issuedAt); g == nil || g.Before(end) {
		end = deref(g)
	}
	if prevIssued != nil {
		if exp := secretExpiry(obj, *prevIssued); !exp.IsZero() && exp.Before(end) {
			end = exp
		}
	}
	return end
}

// suppliedKeys sets the public keys the user supplied. Keys that do not
// parse leave the last good keys in force and stall the credential, as a
// failed issuance leaves the old certificate in place. A key removed moves
// TokensNotBefore: tokens its assertions obtained die with it.
func suppliedKeys(s *snapshot, o *outcome, rec, prev *record.Record) {
	pk := s.obj.Spec.PublicKeys
	var (
		keys []publickeys.Key
		err  error
	)
	if pk.PEM != "" {
		keys, err = publickeys.ParsePEM(pk.PEM)
	} else {
		keys, err = publickeys.ParseJWKS(pk.JWKS)
	}
	if err != nil {
		o.conditions.markStalled(iamv1.InvalidPublicKeysReason, invalidKeysMessage(err, prev))
		if prev != nil {
			rec.PublicKeys = prev.PublicKeys
		}
		return
	}
	for _, k := range keys {
		rec.PublicKeys = append(rec.PublicKeys, record.PublicKey{JWK: k.JWK})
	}
	if prev == nil {
		return
	}
	for _, old := range prev.PublicKeys {
		if !containsKey(rec.PublicKeys, old.JWK) {
			bump(&rec.TokensNotBefore, o.now)
			return
		}
	}
}

func containsKey(keys []record.PublicKey, jwk []byte) bool {
	for _, k := range keys {
		if bytes.Equal(k.JWK, jwk) {
			return true
		}
	}
	return false
}

// invalidKeysMessage says what is wrong with spec.publicKeys (the parser's
// errors name the field and the key's position, never its content), what
// is in force meanwhile, and what to do.
func invalidKeysMessage(err error, existing *record.Record) string {
	inForce := "no key is in force yet, so this credential cannot authenticate"
	if existing != nil && len(existing.PublicKeys) > 0 {
		inForce = "the last valid keys stay in force"
	}
	return fmt.Sprintf("spec.%s; %s. Supply PEM PUBLIC KEY blocks in spec.publicKeys.pem or public JWKs in spec.publicKeys.jwks", err, inForce)
}
