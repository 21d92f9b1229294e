package controllers

import (
	"bytes"
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/publickeys"
	"github.com/signet-iam/signet/internal/record"
)

const recordSecretType corev1.SecretType = "iam.signet.dev/credential-record"

// reconcileRecord derives the credential record from the workload Secret as
// written and from the account's state and grants, and writes it when it
// changed. It carries over what only the record knows: the previous secret
// still in grace and the revocation epoch.
func (r *ClientCredentialReconciler) reconcileRecord(ctx context.Context, s *credentialScope) error {
	existing, raw, err := r.currentRecord(ctx, s.clientID)
	if err != nil {
		return err
	}
	rec := r.baseRecord(s)
	if existing != nil {
		rec.RevokedBefore = existing.RevokedBefore
	}

	switch {
	case rec.Revoked:
		if existing == nil || !existing.Revoked {
			bumpEpoch(rec, s.now)
		}
	case rec.Type == record.TypePrivateKeyJWT:
		if err := r.compilePublicKeys(s, rec, existing); err != nil {
			return err
		}
	default:
		rec.Secrets = r.compileSecrets(s, rec, existing)
	}
	if rec.Disabled && existing != nil && !existing.Disabled {
		bumpEpoch(rec, s.now)
	}

	data, err := rec.Marshal()
	if err != nil {
		return err
	}
	if !bytes.Equal(data, raw) {
		if err := r.applyRecord(ctx, s, data); err != nil {
			return err
		}
	}
	s.record = rec
	return nil
}

// baseRecord fills in everything that does not depend on the previous record.
func (r *ClientCredentialReconciler) baseRecord(s *credentialScope) *record.Record {
	obj := s.obj
	rec := &record.Record{
		ClientID:                   s.clientID,
		Type:                       string(obj.Spec.Type),
		Subject:                    credential.Subject(obj.Namespace, obj.Spec.ServiceAccountName),
		Namespace:                  obj.Namespace,
		ServiceAccount:             obj.Spec.ServiceAccountName,
		Credential:                 obj.Name,
		Scopes:                     s.grants.Scopes,
		Audiences:                  s.grants.Audiences,
		Disabled:                   !s.account.usable(),
		Revoked:                    obj.Spec.Revoked,
		AccessTokenLifetimeSeconds: int64(time.Hour / time.Second),
	}
	if rec.Type == "" {
		rec.Type = record.TypeClientSecret
	}
	if !s.grants.NextChange.IsZero() {
		t := s.grants.NextChange
		rec.GrantsExpireAt = &t
	}
	if l := obj.Spec.AccessTokenLifetime; l != nil && l.Duration > 0 {
		rec.AccessTokenLifetimeSeconds = int64(l.Duration / time.Second)
	}
	expiry := earliest(secretExpiry(obj, s.workload.issuedAt), deref(s.account.expiresAt))
	if !expiry.IsZero() {
		rec.ExpiresAt = &expiry
	}
	return rec
}

// secretExpiry is when a secret issued at issuedAt expires; zero when never.
func secretExpiry(obj *iamv1.ClientCredential, issuedAt time.Time) time.Time {
	if obj.Spec.ValidFor == nil || issuedAt.IsZero() {
		return time.Time{}
	}
	return issuedAt.Add(obj.Spec.ValidFor.Duration)
}

// bumpEpoch moves the revocation epoch to at, so every token issued before
// at introspects as inactive. It never moves back.
func bumpEpoch(rec *record.Record, at time.Time) {
	if rec.RevokedBefore != nil && !rec.RevokedBefore.Before(at) {
		return
	}
	t := at.UTC()
	rec.RevokedBefore = &t
}

// compileSecrets returns the accepted secret hashes.
func (r *ClientCredentialReconciler) compileSecrets(s *credentialScope, rec *record.Record, existing *record.Record) []record.SecretHash {
	if s.workload.value == "" {
		return nil
	}
	var previous []entry[record.SecretHash]
	if existing != nil {
		for _, h := range existing.Secrets {
			previous = append(previous, entry[record.SecretHash]{item: h, notAfter: h.NotAfter})
		}
	}
	isCurrent := func(h record.SecretHash) bool {
		ok, err := s.hasher.Verify(credential.SecretDomain, s.workload.value, h.Hash)
		return ok && err == nil
	}
	fresh := record.SecretHash{Hash: s.hasher.Hash(credential.SecretDomain, s.workload.value)}
	return rollover(s, rec, previous, isCurrent, fresh, func(h record.SecretHash, t *time.Time) record.SecretHash {
		h.NotAfter = t
		return h
	})
}

// compilePublicKeys sets the accepted public keys: the supplied ones, or the
// public half of the generated key pair (with the previous one in grace).
// Supplied keys that do not parse leave the last good keys in force and
// stall the credential, as a failed issuance leaves the old certificate in
// place.
func (r *ClientCredentialReconciler) compilePublicKeys(s *credentialScope, rec *record.Record, existing *record.Record) error {
	if pk := s.obj.Spec.PublicKeys; pk != nil {
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
			s.conditions.markStalled(iamv1.InvalidPublicKeysReason, invalidKeysMessage(err, existing))
			if existing != nil {
				rec.PublicKeys = existing.PublicKeys
			}
			return nil
		}
		for _, k := range keys {
			rec.PublicKeys = append(rec.PublicKeys, record.PublicKey{JWK: k.JWK})
		}
		return nil
	}
	if s.workload.value == "" {
		return nil
	}
	key, err := publickeys.FromPrivateKeyPEM(s.workload.value)
	if err != nil {
		return fmt.Errorf("reading the generated key pair: %w", err)
	}
	var previous []entry[record.PublicKey]
	if existing != nil {
		for _, k := range existing.PublicKeys {
			previous = append(previous, entry[record.PublicKey]{item: k, notAfter: k.NotAfter})
		}
	}
	fresh := record.PublicKey{JWK: key.JWK}
	isCurrent := func(k record.PublicKey) bool { return bytes.Equal(k.JWK, key.JWK) }
	rec.PublicKeys = rollover(s, rec, previous, isCurrent, fresh, func(k record.PublicKey, t *time.Time) record.PublicKey {
		k.NotAfter = t
		return k
	})
	return nil
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

// entry is a secret hash or public key with its grace deadline.
type entry[T any] struct {
	item     T
	notAfter *time.Time
}

// rollover computes the accepted material after the workload Secret was
// (re)written, for secrets and generated keys alike:
//   - the current material unchanged: keep it, and any previous one still
//     in grace;
//   - new material: the old current one stays until the grace deadline from
//     the workload Secret's annotations; without grace it is dropped and the
//     revocation epoch moves to the issue time, so its tokens die with it.
//
// Everything it reads was written before (the workload Secret and the old
// record), so a crash at any point re-derives the same result.
func rollover[T any](s *credentialScope, rec *record.Record, previous []entry[T], isCurrent func(T) bool, fresh T, withNotAfter func(T, *time.Time) T) []T {
	var current *entry[T]
	for i := range previous {
		if previous[i].notAfter == nil {
			current = &previous[i]
			break
		}
	}
	if current != nil && isCurrent(current.item) {
		out := []T{current.item}
		for _, p := range previous {
			if p.notAfter != nil {
				if s.now.Before(*p.notAfter) {
					out = append(out, p.item)
					s.schedule(*p.notAfter)
				} else {
					s.graceEnded = true
				}
			}
		}
		return out
	}
	out := []T{fresh}
	if current == nil {
		return out
	}
	if g := s.workload.graceUntil; g != nil && s.now.Before(*g) {
		out = append(out, withNotAfter(current.item, g))
		s.schedule(*g)
		return out
	}
	bumpEpoch(rec, s.workload.issuedAt)
	return out
}

// currentRecord reads the record from the cache. An unreadable record is
// treated as absent: it is rebuilt from the workload Secret, though the
// previous secret's grace and the epoch it carried are lost.
func (r *ClientCredentialReconciler) currentRecord(ctx context.Context, clientID string) (*record.Record, []byte, error) {
	secret := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: r.Options.SignetNamespace, Name: record.SecretName(clientID)}, secret)
	if apierrors.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	raw := secret.Data[record.RecordKey]
	rec, err := record.Parse(raw)
	if err != nil {
		return nil, nil, nil
	}
	return rec, raw, nil
}

// applyRecord writes the record Secret with server-side apply. It carries no
// owner reference (the owner is in another namespace); the finalizer
// deletes it.
func (r *ClientCredentialReconciler) applyRecord(ctx context.Context, s *credentialScope, data []byte) error {
	obj := s.obj
	labels := record.WorkloadLabels(record.ComponentCredentialRecord, obj.Namespace, obj.Name, obj.Spec.ServiceAccountName)
	labels[record.LabelClientID] = s.clientID
	ac := corev1ac.Secret(record.SecretName(s.clientID), r.Options.SignetNamespace).
		WithType(recordSecretType).
		WithLabels(labels).
		WithData(map[string][]byte{record.RecordKey: data})
	if err := r.Apply(ctx, ac, fieldOwner, client.ForceOwnership); err != nil {
		return fmt.Errorf("writing credential record for %s: %s", s.clientID, safeReason(err))
	}
	return nil
}
