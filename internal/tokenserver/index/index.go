// Package index is the token server's in-memory view of the Signet
// namespace: credential records by client_id, API-key records by the hash of
// their key, the signing key set, the hash keyring, and the access tokens
// revoked through RFC 7009. The token server answers every request from it,
// so it keeps serving while the API server is away.
//
// Updates come from informers (package kube); reads come from request
// handlers. Records are immutable once indexed: an update replaces the
// pointer, so a reader never sees half a record.
package index

import (
	"errors"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/resourceversion"

	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
)

// Index is safe for concurrent use.
type Index struct {
	mu sync.RWMutex
	// records holds every parsed credential record by client_id.
	records map[string]*record.Record
	// owner maps a record Secret's name to the client_id it holds, so a
	// delete event (which may carry only the name) removes the right record.
	owner map[string]string
	// apiKeys maps each stored hash of an API key to its client_id: an API
	// key carries no client_id, so it is found by its hash.
	apiKeys map[string]string
	// federated maps a Federated record's trusted issuer and subject
	// (federationKey) to the client_ids trusting them, so that a workload
	// token presented without client_id finds its credential.
	federated map[string][]string
	keys      *signing.KeySet
	// keysVersion is the resourceVersion of the key set Secret applied,
	// so that an older copy arriving later (from a watch that resumes
	// behind the connection probe's read) never replaces a newer one.
	keysVersion string
	hasher      *credential.Hasher
	// revoked maps the jti of a token revoked through /revoke to its exp.
	revoked map[string]time.Time
	// ledgerRevoked lists, per client_id, the jtis in revoked that came
	// from that client's ledger, so the next version of the ledger
	// replaces them.
	ledgerRevoked map[string][]string
	// notBefore holds, per client_id, the token server's own not-before:
	// tokens of the client issued before it are revoked. It is set when a
	// client revokes more tokens than its ledger lists.
	notBefore map[string]time.Time
}

// New returns an empty index.
func New() *Index {
	return &Index{
		records: map[string]*record.Record{},
		owner:   map[string]string{},
		apiKeys: map[string]string{},
		revoked: map[string]time.Time{},

		federated: map[string][]string{},

		ledgerRevoked: map[string][]string{},
		notBefore:     map[string]time.Time{},
	}
}

// ErrIgnored is returned for a Secret that is none of the kinds indexed.
var ErrIgnored = errors.New("secret is not a credential record or key set")

// ApplySecret indexes a Secret that was added or changed. A record that no
// longer parses is dropped, so that a bad write never leaves a stale, more
// permissive record serving. A key set that no longer parses keeps its
// previous value: keys grant nothing by themselves, and signing must go on.
// Errors never include Secret contents.
func (x *Index) ApplySecret(s *corev1.Secret) error {
	switch component(s) {
	case record.ComponentCredentialRecord:
		rec, err := record.Parse(s.Data[record.RecordKey])
		if err != nil {
			x.DeleteSecret(s)
			return err
		}
		x.putRecord(s.Name, rec)
	case record.ComponentSigningKeys:
		ks, err := signing.Parse(s.Data[record.KeysKey])
		if err != nil {
			return err
		}
		x.mu.Lock()
		defer x.mu.Unlock()
		if older(s.ResourceVersion, x.keysVersion) {
			return nil
		}
		x.keys, x.keysVersion = ks, s.ResourceVersion
	case record.ComponentHashKey:
		h, err := record.HasherFromSecret(s.Data)
		if err != nil {
			return err
		}
		x.mu.Lock()
		x.hasher = h
		x.mu.Unlock()
	default:
		return ErrIgnored
	}
	return nil
}

// DeleteSecret forgets what a deleted Secret held. Only Name, Labels and
// Namespace of s are read.
func (x *Index) DeleteSecret(s *corev1.Secret) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch component(s) {
	case record.ComponentSigningKeys:
		x.keys = nil
	case record.ComponentHashKey:
		x.hasher = nil
	default:
		x.removeRecordLocked(s.Name)
	}
}

// older reports whether resourceVersion a is known to precede b; versions
// that cannot be compared (absent, as in tests, or not numbers) are not.
func older(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c < 0
}

func component(s *corev1.Secret) string {
	c := s.Labels[record.LabelComponent]
	switch {
	case c == record.ComponentSigningKeys && s.Name != record.SigningKeysSecretName,
		c == record.ComponentHashKey && s.Name != record.HashKeySecretName:
		return ""
	}
	return c
}

func (x *Index) putRecord(secretName string, rec *record.Record) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.removeRecordLocked(secretName)
	if prev, ok := x.records[rec.ClientID]; ok {
		// Two Secrets claim one client_id; the manager never writes that.
		// The newer one wins, and the older one's API-key hashes go.
		x.removeLookupsLocked(prev)
		for name, id := range x.owner {
			if id == rec.ClientID {
				delete(x.owner, name)
			}
		}
	}
	x.records[rec.ClientID] = rec
	x.owner[secretName] = rec.ClientID
	if rec.Type == record.TypeAPIKey {
		for _, s := range rec.Secrets {
			x.apiKeys[s.Hash] = rec.ClientID
		}
	}
	if f := rec.Federation; f != nil {
		k := federationKey(f.Issuer, f.Subject)
		x.federated[k] = append(x.federated[k], rec.ClientID)
	}
}

// federationKey joins an issuer and a subject; neither holds a NUL.
func federationKey(issuer, subject string) string { return issuer + "\x00" + subject }

// RecordsByFederation returns the Federated records that trust subject of
// issuer ("" for this cluster's ServiceAccount issuer).
func (x *Index) RecordsByFederation(issuer, subject string) []*record.Record {
	x.mu.RLock()
	defer x.mu.RUnlock()
	ids := x.federated[federationKey(issuer, subject)]
	out := make([]*record.Record, 0, len(ids))
	for _, id := range ids {
		if rec := x.records[id]; rec != nil {
			out = append(out, rec)
		}
	}
	return out
}

func (x *Index) removeRecordLocked(secretName string) {
	id, ok := x.owner[secretName]
	if !ok {
		return
	}
	delete(x.owner, secretName)
	if rec, ok := x.records[id]; ok {
		x.removeLookupsLocked(rec)
		delete(x.records, id)
	}
}

func (x *Index) removeLookupsLocked(rec *record.Record) {
	for _, s := range rec.Secrets {
		if x.apiKeys[s.Hash] == rec.ClientID {
			delete(x.apiKeys, s.Hash)
		}
	}
	if f := rec.Federation; f != nil {
		k := federationKey(f.Issuer, f.Subject)
		ids := slices.DeleteFunc(x.federated[k], func(id string) bool { return id == rec.ClientID })
		if len(ids) == 0 {
			delete(x.federated, k)
		} else {
			x.federated[k] = ids
		}
	}
}

// Record returns the record of a client_id, or nil.
func (x *Index) Record(clientID string) *record.Record {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.records[clientID]
}

// RecordByAPIKeyHash returns the API-key record holding any of hashes (the
// key hashed under every key of the keyring), and the hash that matched.
func (x *Index) RecordByAPIKeyHash(hashes []string) (*record.Record, string) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for _, h := range hashes {
		if id, ok := x.apiKeys[h]; ok {
			return x.records[id], h
		}
	}
	return nil, ""
}

// Keys returns the signing key set, or nil before one was loaded.
func (x *Index) Keys() *signing.KeySet {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.keys
}

// Hasher returns the hasher of the hash keyring, or nil before one was loaded.
func (x *Index) Hasher() *credential.Hasher {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.hasher
}

// Revoke records that the token with jti is revoked until exp.
func (x *Index) Revoke(jti string, exp time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.revoked[jti] = exp
}

// Unrevoke forgets a revocation, once its record was garbage collected
// after the token expired.
func (x *Index) Unrevoke(jti string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.revoked, jti)
}

// Revoked reports whether the token with jti was revoked.
func (x *Index) Revoked(jti string) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	_, ok := x.revoked[jti]
	return ok
}

// ApplyLedger replaces what a client's ledger says: the tokens it revoked
// and its not-before (zero for none).
func (x *Index) ApplyLedger(clientID string, revoked map[string]time.Time, notBefore time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, jti := range x.ledgerRevoked[clientID] {
		delete(x.revoked, jti)
	}
	jtis := make([]string, 0, len(revoked))
	for jti, exp := range revoked {
		x.revoked[jti] = exp
		jtis = append(jtis, jti)
	}
	if len(jtis) > 0 {
		x.ledgerRevoked[clientID] = jtis
	} else {
		delete(x.ledgerRevoked, clientID)
	}
	if notBefore.IsZero() {
		delete(x.notBefore, clientID)
	} else {
		x.notBefore[clientID] = notBefore
	}
}

// ForgetLedger is called when a client's ledger was deleted. Garbage
// collection deletes one only after everything in it expired; entries of
// one deleted earlier, by hand, stay until their tokens expire, so that
// lost state never revives a token.
func (x *Index) ForgetLedger(clientID string, now time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	var keep []string
	for _, jti := range x.ledgerRevoked[clientID] {
		if exp, ok := x.revoked[jti]; ok && now.Before(exp) {
			keep = append(keep, jti)
		} else {
			delete(x.revoked, jti)
		}
	}
	if len(keep) > 0 {
		x.ledgerRevoked[clientID] = keep
	} else {
		delete(x.ledgerRevoked, clientID)
	}
}

// TokenRevoked reports whether a token of clientID with jti, issued at
// issued, was revoked: listed, or issued before the client's not-before.
func (x *Index) TokenRevoked(clientID, jti string, issued time.Time) bool {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if _, ok := x.revoked[jti]; ok {
		return true
	}
	nb, ok := x.notBefore[clientID]
	return ok && issued.Before(nb)
}

// Stats are the sizes of the index, for metrics.
type Stats struct {
	Records, APIKeyHashes, Revoked int
	SigningKeys, HashKeys          bool
}

// Stats returns the sizes of the index.
func (x *Index) Stats() Stats {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return Stats{
		Records: len(x.records), APIKeyHashes: len(x.apiKeys), Revoked: len(x.revoked),
		SigningKeys: x.keys != nil, HashKeys: x.hasher != nil,
	}
}
