package controllers

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/publickeys"
	"github.com/signet-iam/signet/internal/record"
)

// The model test drives plan through random sequences of everything a user,
// a GitOps tool or an accident can do to a credential, and after each step
// checks every secret and every token minted so far against a small
// reference model: accepted exactly when the model says so. It runs plan
// and the token server's own acceptance rules (internal/record) in process,
// without an API server, so thousands of steps take well under a second.
//
// make test runs the default budget; make test-model MODEL_SEEDS=...
// MODEL_STEPS=... runs a longer campaign.
var (
	modelSeeds = flag.String("model.seeds", "1,2,3", "comma-separated seeds of the model test")
	modelSteps = flag.Int("model.steps", 10000, "steps per seed of the model test")
)

const (
	modelValidFor = 3 * time.Hour
	modelGrace    = 30 * time.Minute
	modelLifetime = time.Hour
)

// stepKind is one thing that can happen.
type stepKind int

const (
	stepRevoke stepKind = iota
	stepUnrevoke
	stepDisable
	stepEnable
	stepRotateGrace
	stepRotateNoGrace
	stepTrigger
	stepRuleAdd
	stepRuleRemove
	stepRuleExpire
	stepAccountDelete
	stepAccountRecreate
	stepCredentialDelete
	stepCredentialCreate
	stepRecordDelete
	stepRecordCorrupt
	stepTime
	stepKeyAdd
	stepKeyRemove
	stepKinds
)

var stepNames = [...]string{"revoke", "un-revoke", "disable", "enable", "rotate-with-grace", "rotate-without-grace",
	"trigger", "rule-add", "rule-remove", "rule-expire", "account-delete", "account-recreate",
	"credential-delete", "credential-create", "record-delete", "record-corrupt", "time", "key-add", "key-remove"}

// step is one step with its parameters drawn up front, so that a failing
// sequence can be replayed with steps left out.
type step struct {
	kind stepKind
	// rule is the rule a rule step acts on (0-2); scopes its scopes and
	// ruleFor how long an added rule lasts (0: no expiry).
	rule    int
	scopes  []string
	ruleFor time.Duration
	// orphan is the deletion policy of a created credential; continuity
	// whether it carries the continuity annotation.
	orphan, continuity bool
	// daysValid of a re-created account (0: no expiry).
	daysValid int32
	// advance is how far time moves.
	advance time.Duration
	// corrupt is what a corrupted record holds.
	corrupt string
	// pick chooses the scopes a token asks for.
	pick uint64
}

func (s step) String() string {
	switch s.kind {
	case stepRuleAdd:
		return fmt.Sprintf("rule-add(r%d %v for %v)", s.rule, s.scopes, s.ruleFor)
	case stepRuleRemove, stepRuleExpire:
		return fmt.Sprintf("%s(r%d)", stepNames[s.kind], s.rule)
	case stepAccountRecreate:
		return fmt.Sprintf("account-recreate(daysValid %d)", s.daysValid)
	case stepCredentialCreate:
		return fmt.Sprintf("credential-create(orphan %v, continuity %v)", s.orphan, s.continuity)
	case stepRecordCorrupt:
		return fmt.Sprintf("record-corrupt(%q)", s.corrupt)
	case stepTime:
		return fmt.Sprintf("time(+%v)", s.advance)
	case stepKeyAdd, stepKeyRemove:
		return fmt.Sprintf("%s(k%d)", stepNames[s.kind], s.rule)
	}
	return stepNames[s.kind]
}

var corruptions = []string{"{", `{"version":99,"clientId":"x"}`, `null`, `{"version":2}`}

func randomSteps(rng *rand.Rand, n int) []step {
	out := make([]step, n)
	for i := range out {
		s := step{kind: stepKind(rng.IntN(int(stepKinds))), rule: rng.IntN(3), orphan: rng.IntN(2) == 0, continuity: rng.IntN(2) == 0, pick: rng.Uint64(),
			corrupt: corruptions[rng.IntN(len(corruptions))]}
		for _, sc := range []string{"a", "b", "c"} {
			if rng.IntN(2) == 0 {
				s.scopes = append(s.scopes, sc)
			}
		}
		if rng.IntN(2) == 0 {
			s.ruleFor = time.Duration(1+rng.IntN(360)) * time.Minute
		}
		if rng.IntN(3) == 0 {
			s.daysValid = int32(1 + rng.IntN(3))
		}
		switch {
		case rng.IntN(8) == 0:
			s.advance = time.Duration(1+rng.IntN(30)) * time.Hour
		default:
			s.advance = time.Duration(1+rng.IntN(900)) * time.Second
		}
		out[i] = s
	}
	return out
}

// modelSecret is a secret the implementation issued, with what the model
// knows of it.
type modelSecret struct {
	clientID, value, hash string
	issuedAt              time.Time
	// dead is set by an event after which the secret must never work again.
	dead bool
	// current is set while it is the credential's current secret;
	// graceUntil once a rotation with grace superseded it.
	current    bool
	graceUntil time.Time
}

// modelToken is a token minted through the implementation.
type modelToken struct {
	clientID string
	issued   time.Time
	exp      time.Time
	scopes   []string
	dead     bool
}

type modelRule struct {
	scopes  []string
	expires time.Time // zero: never
}

// model is the reference: a few lines per event, written from the
// guarantees in docs/revocation.md rather than from the implementation.
type model struct {
	w *world
	// keys is set for a PrivateKeyJWT credential with supplied public keys:
	// no secret, keys from a pool of three (the rule field of a key step
	// picks one), listed in spec.publicKeys.
	keys   bool
	pool   *keyPool
	keySet [3]bool
	rules  [3]*modelRule
	// grantsAtReconcile are the scopes compiled at the last reconcile.
	grantsAtReconcile []string
	secrets           []*modelSecret
	tokens            []*modelToken
	// handovers are the client_ids credentials deleted with continuity
	// handed over, not yet adopted.
	handovers []modelHandover
	// workloadHolds is the client_id whose secret the workload Secret
	// holds ("" once it is deleted), and workloadTrigger the rotation
	// trigger it was issued for.
	workloadHolds, workloadTrigger string
	// expectID is the client_id the credential created by this step must
	// have; "" when it is the one derived from its UID.
	expectID string
	created  bool
}

// modelHandover is a client_id a deleted credential handed over.
type modelHandover struct {
	clientID string
	until    time.Time
}

func (m *model) credLive() bool { return m.w.cred != nil }

func (m *model) accountUsable(now time.Time) bool {
	a := m.w.account
	if a == nil || a.Spec.Disabled {
		return false
	}
	exp := accountExpiry(a)
	return exp == nil || now.Before(*exp)
}

// credentialExpiry is when the credential stops: its current secret's
// validity and its account's expiry.
func (m *model) credentialExpiry(cur *modelSecret) time.Time {
	var exp time.Time
	switch {
	case m.keys && m.credLive():
		exp = m.w.cred.CreationTimestamp.Add(modelValidFor)
	case cur != nil:
		exp = cur.issuedAt.Add(modelValidFor)
	}
	if m.w.account != nil {
		exp = earliest(exp, deref(accountExpiry(m.w.account)))
	}
	return exp
}

// current is the current secret of the credential's client_id.
func (m *model) current() *modelSecret { return m.currentOf(m.w.clientID()) }

func (m *model) currentOf(clientID string) *modelSecret {
	for _, s := range m.secrets {
		if s.current && !s.dead && s.clientID == clientID {
			return s
		}
	}
	return nil
}

// secretOK is the model's answer for one secret at now.
func (m *model) secretOK(s *modelSecret, now time.Time) bool {
	if s.dead || !m.credLive() || s.clientID != m.w.clientID() || m.w.cred.Spec.Revoked || !m.accountUsable(now) {
		return false
	}
	if exp := m.credentialExpiry(m.current()); !exp.IsZero() && !now.Before(exp) {
		return false
	}
	if s.current {
		return true
	}
	return !s.graceUntil.IsZero() && now.Before(s.graceUntil)
}

// tokenOK is the model's answer for one token at now.
func (m *model) tokenOK(t *modelToken, now time.Time) bool {
	if t.dead || !now.Before(t.exp) || !m.credLive() || t.clientID != m.w.clientID() || m.w.cred.Spec.Revoked || !m.accountUsable(now) {
		return false
	}
	if exp := m.credentialExpiry(m.current()); !exp.IsZero() && !now.Before(exp) {
		return false
	}
	return subset(t.scopes, m.grants(now))
}

// grants is the union of the scopes of the rules in force.
func (m *model) grants(now time.Time) []string {
	var out []string
	for _, r := range m.rules {
		if r != nil && (r.expires.IsZero() || now.Before(r.expires)) {
			out = append(out, r.scopes...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// grantsExpiry is the earliest expiry among the rules in force.
func (m *model) grantsExpiry(now time.Time) time.Time {
	var out time.Time
	for _, r := range m.rules {
		if r != nil && !r.expires.IsZero() && now.Before(r.expires) {
			out = earliest(out, r.expires)
		}
	}
	return out
}

func (m *model) killSecrets() {
	for _, s := range m.secrets {
		s.dead = true
	}
}

// killSecretsOf kills the secrets of one client_id: what happens to the
// live credential's record does not reach a handed-over one.
func (m *model) killSecretsOf(clientID string) {
	for _, s := range m.secrets {
		if s.clientID == clientID {
			s.dead = true
		}
	}
}

func (m *model) killTokens() {
	for _, t := range m.tokens {
		t.dead = true
	}
}

func (m *model) syncRules() {
	m.w.rules = nil
	for i, r := range m.rules {
		if r == nil {
			continue
		}
		ar := worldRule("r"+strconv.Itoa(i), r.scopes...)
		if !r.expires.IsZero() {
			ar.Spec.ExpiresAt = &metav1.Time{Time: r.expires}
		}
		m.w.rules = append(m.w.rules, *ar)
	}
}

// apply performs one step on the world and tells the model. It returns
// whether the implementation must now hold a new secret, and whether a
// rotation with grace is what replaced the old one.
func (m *model) apply(s step) (wantNew, grace bool) {
	w := m.w
	hasSecret := m.credLive() && !w.cred.Spec.Revoked && !m.keys
	switch s.kind {
	case stepRevoke:
		if hasSecret {
			w.edit(func(c *iamv1.ClientCredential) { c.Spec.Revoked = true })
			m.killSecretsOf(w.clientID())
			m.killTokens()
		}
	case stepUnrevoke:
		if m.credLive() && w.cred.Spec.Revoked {
			w.edit(func(c *iamv1.ClientCredential) { c.Spec.Revoked = false })
			return !m.keys, false
		}
	case stepDisable:
		if w.account != nil && !w.account.Spec.Disabled {
			w.account.Spec.Disabled = true
			m.killTokens()
		}
	case stepEnable:
		if w.account != nil {
			w.account.Spec.Disabled = false
		}
	case stepRotateGrace, stepRotateNoGrace, stepTrigger:
		if !m.credLive() {
			return false, false
		}
		w.edit(func(c *iamv1.ClientCredential) {
			switch s.kind {
			case stepRotateGrace:
				c.Spec.Rotation.GracePeriod = duration(modelGrace)
			case stepRotateNoGrace:
				c.Spec.Rotation.GracePeriod = nil
			}
			c.Spec.Rotation.Trigger = strconv.Itoa(int(c.Generation))
		})
		return hasSecret, w.cred.Spec.Rotation.GracePeriod != nil && hasSecret
	case stepRuleAdd:
		r := &modelRule{scopes: s.scopes}
		if s.ruleFor > 0 {
			r.expires = w.now.Add(s.ruleFor)
		}
		m.rules[s.rule] = r
		m.syncRules()
	case stepRuleRemove:
		m.rules[s.rule] = nil
		m.syncRules()
	case stepRuleExpire:
		if r := m.rules[s.rule]; r != nil && (r.expires.IsZero() || w.now.Before(r.expires)) {
			r.expires = w.now
			m.syncRules()
		}
	case stepAccountDelete:
		if w.account != nil {
			w.account = nil
			m.killSecrets()
			m.killTokens()
			return hasSecret, false
		}
	case stepAccountRecreate:
		w.createAccount()
		if s.daysValid > 0 {
			w.account.Spec.DaysValid = ptr(s.daysValid)
		}
		m.killSecrets()
		m.killTokens()
		return hasSecret, false
	case stepCredentialDelete:
		if m.credLive() {
			m.deleteCredential()
		}
	case stepCredentialCreate:
		if !m.credLive() {
			return m.createCredential(s), false
		}
	case stepRecordDelete, stepRecordCorrupt:
		if !m.credLive() {
			return false, false
		}
		if s.kind == stepRecordDelete {
			w.deleteRecord(w.clientID())
		} else {
			w.records[w.clientID()] = []byte(s.corrupt)
		}
		m.killSecretsOf(w.clientID())
		m.killTokens()
		return hasSecret, false
	case stepTime:
		w.now = w.now.Add(s.advance)
	case stepKeyAdd, stepKeyRemove:
		if !m.keys || !m.credLive() {
			return false, false
		}
		next := m.keySet
		next[s.rule] = s.kind == stepKeyAdd
		if next == ([3]bool{}) {
			return false, false // spec.publicKeys needs a key
		}
		if m.keySet[s.rule] && !next[s.rule] {
			m.killTokens()
		}
		m.keySet = next
		w.edit(func(c *iamv1.ClientCredential) { c.Spec.PublicKeys.PEM = m.pool.pem(m.keySet) })
	}
	return false, false
}

// deleteCredential deletes the credential. With continuity its record is
// handed over: its secrets are refused, not dead, until it is adopted.
func (m *model) deleteCredential() {
	w := m.w
	id, orphan := w.clientID(), w.cred.Spec.DeletionPolicy == iamv1.OrphanPolicy
	if wantsContinuity(w.cred) {
		m.handovers = append(m.handovers, modelHandover{clientID: id, until: w.now.Add(DefaultContinuityWindow)})
	} else {
		m.killSecretsOf(id)
		m.killTokens()
	}
	if !orphan {
		m.workloadHolds = ""
	}
	w.deleteCredential()
}

// createCredential creates the credential and says whether it must hold a
// new secret. With continuity it adopts the latest handover if that has
// not ended: its secret carries over if the workload Secret still holds
// it; its tokens never do.
func (m *model) createCredential(s step) (wantNew bool) {
	m.w.createCredential(func(c *iamv1.ClientCredential) {
		c.Spec.ValidFor = duration(modelValidFor)
		c.Spec.Rotation = &iamv1.RotationSpec{Trigger: "0"}
		if s.orphan {
			c.Spec.DeletionPolicy = iamv1.OrphanPolicy
		}
		if s.continuity {
			c.Annotations = map[string]string{annotContinuity: "true"}
		}
		if m.keys {
			m.keySet = [3]bool{true}
			c.Spec.Type, c.Spec.PublicKeys = iamv1.PrivateKeyJWTType, &iamv1.PublicKeys{PEM: m.pool.pem(m.keySet)}
		}
	})
	m.expectID, m.created = "", true
	if !s.continuity || len(m.handovers) == 0 {
		return !m.keys
	}
	latest := len(m.handovers) - 1
	h := m.handovers[latest]
	if !m.w.now.Before(h.until) {
		return !m.keys
	}
	m.handovers = slices.Delete(m.handovers, latest, latest+1)
	m.expectID = h.clientID
	m.killTokens()
	// A trigger other than the one the secret was issued for rotates it,
	// as it would on an edit.
	return !m.keys && (m.workloadHolds != h.clientID || m.currentOf(h.clientID) == nil || m.workloadTrigger != "0")
}

// run plays steps from a fresh world and returns the first disagreement.
func runModel(t testing.TB, steps []step, keys *keyPool) error {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := newWorld(t, start)
	m := &model{w: w, keys: keys != nil, pool: keys}
	w.createAccount()
	wantNew, _ := m.apply(step{kind: stepCredentialCreate})
	w.reconcile()
	if err := m.afterReconcile(wantNew, false, start); err != nil {
		return err
	}
	for i, s := range steps {
		// Every event happens after the one before it, if only just.
		w.now = w.now.Add(time.Millisecond)
		wantNew, grace := m.apply(s)
		if s.kind == stepTime {
			if err := m.check(); err != nil {
				return fmt.Errorf("step %d %v, before the reconcile: %w", i, s, err)
			}
		}
		w.sweep()
		if m.credLive() {
			w.reconcile()
			if err := m.checkIdentity(); err != nil {
				return fmt.Errorf("step %d %v: %w", i, s, err)
			}
		}
		if err := m.afterReconcile(wantNew, grace, w.now); err != nil {
			return fmt.Errorf("step %d %v: %w", i, s, err)
		}
		if err := m.check(); err != nil {
			return fmt.Errorf("step %d %v: %w", i, s, err)
		}
		if err := m.mint(s.pick); err != nil {
			return fmt.Errorf("step %d %v: %w", i, s, err)
		}
	}
	return nil
}

// checkIdentity checks that a created credential adopted exactly the
// client_id the model expects.
func (m *model) checkIdentity() error {
	if !m.created {
		return nil
	}
	m.created = false
	derived, err := credential.ClientID(string(m.w.cred.UID))
	if err != nil {
		return err
	}
	want := m.expectID
	if want == "" {
		want = derived
	}
	if got := m.w.clientID(); got != want {
		return fmt.Errorf("the credential has client_id %s, the model expects %s (adoption expected %v)", got, want, m.expectID != "")
	}
	return nil
}

// afterReconcile registers a secret the implementation issued and checks
// it issued one exactly when it had to; a withdrawn grant kills tokens.
func (m *model) afterReconcile(wantNew, grace bool, now time.Time) error {
	if g := m.grants(now); !subset(m.grantsAtReconcile, g) {
		m.killTokens()
	}
	m.grantsAtReconcile = m.grants(now)
	if !m.credLive() {
		return nil
	}
	value := m.w.secret()
	cur := m.current()
	isNew := value != "" && (cur == nil || cur.value != value || cur.clientID != m.w.clientID())
	if isNew != wantNew {
		return fmt.Errorf("a new secret was issued = %v, the model expects %v", isNew, wantNew)
	}
	if !isNew {
		return nil
	}
	for _, s := range m.secrets {
		if s.clientID != m.w.clientID() {
			continue // another client_id's secrets, handed over, are untouched
		}
		if s.current && grace && s == cur {
			s.graceUntil = earliest(now.Add(modelGrace), s.issuedAt.Add(modelValidFor))
		} else if s.current || !s.graceUntil.IsZero() {
			s.dead = true
		}
		s.current = false
	}
	m.workloadHolds, m.workloadTrigger = m.w.clientID(), m.w.cred.Spec.Rotation.Trigger
	if !grace {
		m.killTokens()
	}
	issued := parseIssuance(m.w.workload.Annotations).issuedAt
	m.secrets = append(m.secrets, &modelSecret{clientID: m.w.clientID(), value: value, issuedAt: issued, current: true,
		hash: m.w.hasher.Hash(credential.SecretDomain, value)})
	return nil
}

// check compares every secret and token with the model at the world's time.
// For secrets it compares two sets, which is the same as asking about each
// secret minted so far but costs nothing for the dead ones: the secrets the
// implementation accepts (read from every stored record) and those the
// model accepts (only live ones can be).
func (m *model) check() error {
	now := m.w.now
	recs := map[string]*record.Record{}
	byHash := map[string]*modelSecret{}
	for _, s := range m.secrets {
		byHash[s.hash] = s
	}
	for clientID := range m.w.records {
		rec := storedRecord(recs, m.w, clientID)
		if rec == nil {
			continue
		}
		if ok, _ := rec.Usable(now); !ok {
			continue
		}
		for _, h := range rec.AcceptedSecrets(now) {
			s := byHash[h.Hash]
			if s == nil || s.clientID != clientID {
				return fmt.Errorf("client %s accepts a secret the model never saw issued to it", clientID)
			}
			if !m.secretOK(s, now) {
				return fmt.Errorf("secret issued at %v (dead %v, current %v, grace until %v): accepted, the model says no",
					s.issuedAt.Format(time.RFC3339), s.dead, s.current, s.graceUntil.Format(time.RFC3339))
			}
		}
	}
	live := m.secrets[:0]
	for _, s := range m.secrets {
		if m.secretOK(s, now) {
			if _, got := m.implAccepts(recs, s, now); !got {
				return fmt.Errorf("secret issued at %v (current %v, grace until %v): refused, the model says accepted",
					s.issuedAt.Format(time.RFC3339), s.current, s.graceUntil.Format(time.RFC3339))
			}
		}
		if !s.dead {
			live = append(live, s) // a dead secret is checked above, through the records
		}
	}
	m.secrets = live
	if m.keys {
		for i := range m.keySet {
			got := m.implAcceptsKey(recs, i, now)
			if want := m.keyOK(i, now); got != want {
				return fmt.Errorf("key k%d: accepted %v, the model says %v", i, got, want)
			}
		}
	}
	tokens := m.tokens[:0]
	for _, t := range m.tokens {
		got := implActive(recs, m.w, t, now)
		if want := m.tokenOK(t, now); got != want {
			return fmt.Errorf("token minted at %v, expiring %v, scopes %v (dead %v): active %v, the model says %v",
				t.issued.Format(time.RFC3339), t.exp.Format(time.RFC3339), t.scopes, t.dead, got, want)
		}
		if now.Before(t.exp) {
			tokens = append(tokens, t) // an expired token never comes back
		}
	}
	m.tokens = tokens
	return nil
}

// storedRecord parses a client's record once per check, as the token
// server's index holds it.
func storedRecord(recs map[string]*record.Record, w *world, clientID string) *record.Record {
	rec, ok := recs[clientID]
	if !ok {
		if data, found := w.records[clientID]; found {
			rec, _ = record.Parse(data)
		}
		recs[clientID] = rec
	}
	return rec
}

// implAccepts is the token server's verdict on a secret: the client's
// record is usable and one of its accepted hashes matches. Hashes are
// compared as strings, as Verify does for one hash key, to keep the test fast.
func (m *model) implAccepts(recs map[string]*record.Record, s *modelSecret, now time.Time) (*record.Record, bool) {
	rec := storedRecord(recs, m.w, s.clientID)
	if rec == nil {
		return nil, false
	}
	if ok, _ := rec.Usable(now); !ok {
		return nil, false
	}
	return rec.MatchSecret(now, func(hash string) bool { return hash == s.hash })
}

// implActive is introspection's verdict on a token: not expired, and its
// client's record still backs it.
func implActive(recs map[string]*record.Record, w *world, t *modelToken, now time.Time) bool {
	rec := storedRecord(recs, w, t.clientID)
	return rec != nil && now.Before(t.exp) && rec.Backs(t.issued, now, t.scopes, nil, "")
}

// mint obtains a token with every secret or key the implementation
// accepts, as the token endpoint does, and checks its expiry against the
// model's caps.
func (m *model) mint(pick uint64) error {
	now := m.w.now
	recs := map[string]*record.Record{}
	if m.keys && m.credLive() {
		for i := range m.keySet {
			if !m.implAcceptsKey(recs, i, now) {
				continue
			}
			rec := storedRecord(recs, m.w, m.w.clientID())
			exp := rec.TokenExpiry(now)
			want := earliest(now.Add(modelLifetime), m.credentialExpiry(nil), m.grantsExpiry(now))
			if !exp.Equal(want.Truncate(time.Second)) {
				return fmt.Errorf("a token minted at %v with key k%d expires at %v, the model says %v", now.Format(time.RFC3339), i, exp, want)
			}
			m.tokens = append(m.tokens, &modelToken{clientID: m.w.clientID(), issued: now, exp: exp})
		}
	}
	for _, s := range m.secrets {
		if s.dead || !s.current && s.graceUntil.IsZero() {
			continue
		}
		via, ok := m.implAccepts(recs, s, now)
		if !ok {
			continue
		}
		var scopes []string
		if via.GrantsInForce(now) {
			for i, sc := range via.Scopes {
				if pick>>uint(i)&1 == 1 {
					scopes = append(scopes, sc)
				}
			}
		}
		exp := via.TokenExpiry(now)
		want := earliest(now.Add(modelLifetime), m.credentialExpiry(m.current()), m.grantsExpiry(now))
		if !s.current {
			want = earliest(want, s.graceUntil)
		}
		if !exp.Equal(want.Truncate(time.Second)) {
			return fmt.Errorf("a token minted at %v expires at %v, the model says %v", now.Format(time.RFC3339), exp, want)
		}
		m.tokens = append(m.tokens, &modelToken{clientID: s.clientID, issued: now, exp: exp, scopes: scopes})
	}
	return nil
}

// shrink removes chunks of steps, halving the chunk size down to single
// steps, while the sequence still fails, and returns the shortest failing
// sequence found.
func shrink(t testing.TB, steps []step, keys *keyPool) []step {
	for size := len(steps) / 2; size >= 1; size /= 2 {
		for changed := true; changed; {
			changed = false
			for i := 0; i+size <= len(steps); {
				candidate := slices.Delete(slices.Clone(steps), i, i+size)
				if runModel(t, candidate, keys) != nil {
					steps, changed = candidate, true
				} else {
					i += size
				}
			}
		}
	}
	return steps
}

// TestModelKnownSequences replays the sequences that once revived a
// secret or token (docs/design/0009-not-before.md).
func TestModelKnownSequences(t *testing.T) {
	for name, steps := range map[string][]step{
		"account re-created at the instant of issue": {{kind: stepAccountRecreate}},
		"account deleted, record lost, rotated, account re-created": {
			{kind: stepAccountDelete}, {kind: stepRecordDelete}, {kind: stepRotateNoGrace}, {kind: stepAccountRecreate}},
		"grant withdrawn and added back": {
			{kind: stepRuleAdd, rule: 1, scopes: []string{"a", "b"}}, {kind: stepRuleRemove, rule: 1},
			{kind: stepRuleAdd, rule: 1, scopes: []string{"a", "b"}}},
		"record corrupted":                  {{kind: stepRecordCorrupt, corrupt: "null"}},
		"expired secret rotated with grace": {{kind: stepRotateGrace}, {kind: stepTime, advance: 6 * time.Hour}, {kind: stepTrigger}},
		"orphaned Secret and a re-created credential": {
			{kind: stepCredentialDelete}, {kind: stepCredentialCreate, orphan: true}, {kind: stepCredentialDelete}, {kind: stepCredentialCreate}},
		"revoked, record lost, un-revoked": {{kind: stepRevoke}, {kind: stepRecordDelete}, {kind: stepUnrevoke}},
		"disabled, enabled":                {{kind: stepDisable}, {kind: stepEnable}},
		// Continuity: the first credential never asks for it, so each
		// sequence starts by replacing it with one that does.
		"continued, then its record corrupted": {
			{kind: stepCredentialDelete}, {kind: stepCredentialCreate, continuity: true, orphan: true}, {kind: stepCredentialDelete},
			{kind: stepCredentialCreate, continuity: true, orphan: true}, {kind: stepRecordCorrupt, corrupt: "null"}},
		"rotated with grace, then continued with the spec's original trigger": {
			{kind: stepCredentialDelete}, {kind: stepCredentialCreate, continuity: true, orphan: true}, {kind: stepRotateGrace},
			{kind: stepCredentialDelete}, {kind: stepCredentialCreate, continuity: true}},
		"account re-created while handed over": {
			{kind: stepCredentialDelete}, {kind: stepCredentialCreate, continuity: true, orphan: true}, {kind: stepCredentialDelete},
			{kind: stepAccountRecreate}, {kind: stepCredentialCreate, continuity: true, orphan: true}},
		"disabled and enabled while handed over": {
			{kind: stepCredentialDelete}, {kind: stepCredentialCreate, continuity: true, orphan: true}, {kind: stepCredentialDelete},
			{kind: stepDisable}, {kind: stepEnable}, {kind: stepCredentialCreate, continuity: true, orphan: true}},
		"handover window over": {
			{kind: stepCredentialDelete}, {kind: stepCredentialCreate, continuity: true, orphan: true}, {kind: stepCredentialDelete},
			{kind: stepTime, advance: 2 * time.Hour}, {kind: stepCredentialCreate, continuity: true, orphan: true}},
		"revoked, then continued": {
			{kind: stepCredentialDelete}, {kind: stepCredentialCreate, continuity: true, orphan: true}, {kind: stepRevoke},
			{kind: stepCredentialDelete}, {kind: stepCredentialCreate, continuity: true, orphan: true}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := runModel(t, steps, nil); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestModelNoSequenceRevivesASecretOrToken(t *testing.T) {
	for _, field := range strings.Split(*modelSeeds, ",") {
		seed, err := strconv.ParseUint(strings.TrimSpace(field), 10, 64)
		if err != nil {
			t.Fatalf("bad seed %q", field)
		}
		// Odd seeds drive a credential with supplied public keys.
		var keys *keyPool
		if seed%2 == 1 {
			keys = newKeyPool(t)
		}
		t.Run("seed="+field, func(t *testing.T) {
			steps := randomSteps(rand.New(rand.NewPCG(seed, seed)), *modelSteps)
			err := runModel(t, steps, keys)
			if err == nil {
				return
			}
			// Shrink from the prefix that fails.
			prefix := steps
			for lo, hi := 0, len(steps); lo < hi; {
				mid := (lo + hi) / 2
				if runModel(t, steps[:mid+1], keys) != nil {
					hi, prefix = mid, steps[:mid+1]
				} else {
					lo = mid + 1
				}
			}
			small := shrink(t, prefix, keys)
			var names []string
			for _, s := range small {
				names = append(names, s.String())
			}
			t.Fatalf("%v\nshrunk to %d steps (supplied keys %v): %s\n%v", err, len(small), keys != nil, strings.Join(names, ", "), runModel(t, small, keys))
		})
	}
}

// keyPool is three public keys a supplied-keys credential may list, with
// the JWK form the record holds them in.
type keyPool struct {
	pems [3]string
	jwks [3][]byte
}

func newKeyPool(t testing.TB) *keyPool {
	p := &keyPool{}
	for i := range p.pems {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalPKIXPublicKey(priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		p.pems[i] = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		keys, err := publickeys.ParsePEM(p.pems[i])
		if err != nil {
			t.Fatal(err)
		}
		p.jwks[i] = keys[0].JWK
	}
	return p
}

// pem is spec.publicKeys.pem listing the keys in set.
func (p *keyPool) pem(set [3]bool) string {
	var out string
	for i, in := range set {
		if in {
			out += p.pems[i]
		}
	}
	return out
}

// keyOK is the model's answer for a supplied key: listed, and the
// credential and its account usable. Keys are the user's declaration, so
// no event kills them; tokens obtained with them die as secrets' do.
func (m *model) keyOK(i int, now time.Time) bool {
	if !m.credLive() || !m.keySet[i] || m.w.cred.Spec.Revoked || !m.accountUsable(now) {
		return false
	}
	exp := m.credentialExpiry(nil)
	return exp.IsZero() || now.Before(exp)
}

// implAcceptsKey is the token server's verdict on an assertion signed with
// key i: the record is usable and lists the key among those accepted.
func (m *model) implAcceptsKey(recs map[string]*record.Record, i int, now time.Time) bool {
	if !m.credLive() {
		return false
	}
	rec := storedRecord(recs, m.w, m.w.clientID())
	if rec == nil {
		return false
	}
	if ok, _ := rec.Usable(now); !ok {
		return false
	}
	for _, k := range rec.AcceptedPublicKeys(now) {
		if bytes.Equal(k.JWK, m.pool.jwks[i]) {
			return true
		}
	}
	return false
}
