package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Version is the newest record format this code reads and writes. Readers
// refuse records with a higher version instead of misreading them, so a
// record is written with the lowest version that says everything it holds:
// an older token server refuses what it could not enforce, and reads the
// rest unchanged while a rolling upgrade is under way.
//
//   - Version 2 added the not-before times, the UIDs the record was compiled
//     for and each secret's issue time; a version 1 record reads as one
//     whose not-before times are its revocation epoch.
//   - Version 3 added HandoverUntil and Federation. Only records in handover
//     and Federated records are written as version 3, so a token server
//     that predates them refuses them instead of honouring what it could
//     not check.
const Version = 3

// versionBefore3 is the version of a record with neither HandoverUntil nor
// Federation.
const versionBefore3 = 2

// AccountNone is the AccountUID of a record compiled while its account did
// not exist. It differs from every real UID, so a secret issued then is
// refused once any account of that name appears.
const AccountNone = "none"

// CredentialType values, as in the ClientCredential API.
const (
	TypeClientSecret  = "ClientSecret"
	TypeAPIKey        = "APIKey"
	TypePrivateKeyJWT = "PrivateKeyJWT"
	TypeFederated     = "Federated"
)

// MaxRecordBytes bounds a record the token server will parse.
const MaxRecordBytes = 256 << 10

// Record is what the token server knows about one client.
type Record struct {
	// Version of the format; see Version.
	Version int `json:"version"`

	// ClientID is the OAuth2 client_id.
	ClientID string `json:"clientId"`
	// Type is one of the Type* constants; each type authenticates only with
	// its own method.
	Type string `json:"type"`
	// Subject is the "sub" claim of the client's tokens.
	Subject string `json:"subject"`
	// Namespace, ServiceAccount and Credential name the objects the record
	// was compiled from, for audit lines and introspection.
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
	Credential     string `json:"credential"`
	// CredentialUID and AccountUID are the UIDs of the ClientCredential and
	// ServiceAccount the record was compiled for (AccountNone when the
	// account was absent). A record is valid only for these objects: a
	// re-created object of the same name is a new identity, and the manager
	// moves NotBefore when either changes.
	CredentialUID string `json:"credentialUid,omitempty"`
	AccountUID    string `json:"accountUid,omitempty"`

	// Scopes the client may request, compiled from the AccessRules in force.
	// Sorted. Empty means the client may obtain only tokens without scope.
	Scopes []string `json:"scopes,omitempty"`
	// Audiences the client may request with "resource" or "audience".
	// Sorted. Empty means tokens carry the server's default audience only.
	Audiences []string `json:"audiences,omitempty"`
	// GrantsExpireAt is the earliest expiry among the AccessRules that
	// contributed scopes; the manager recompiles the record then. Unset means
	// none expires.
	GrantsExpireAt *time.Time `json:"grantsExpireAt,omitempty"`

	// Secrets are keyed hashes (credential.SecretDomain) of the accepted
	// secrets: the current one first, then any previous one still in grace.
	// Empty for PrivateKeyJWT.
	Secrets []SecretHash `json:"secrets,omitempty"`
	// PublicKeys is a JSON Web Key Set with the client's public keys, each
	// with "kid" and "alg" set, for PrivateKeyJWT. Keys have NotAfter like
	// secrets when Signet rotates generated keys.
	PublicKeys []PublicKey `json:"publicKeys,omitempty"`

	// ExpiresAt is when the credential stops working: the earliest of the
	// current secret's and the account's expiry. Unset means never.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	// Disabled is set while the account is disabled or expired.
	Disabled bool `json:"disabled,omitempty"`
	// Revoked is set while the credential is revoked.
	Revoked bool `json:"revoked,omitempty"`
	// NotBefore: no secret or generated key issued before it is accepted.
	// It moves forward when the record is rebuilt, when the account or the
	// credential is replaced by another of the same name, on revocation and
	// on rotation without grace. It never moves back. Unset only in records
	// migrated from version 1.
	NotBefore *time.Time `json:"notBefore,omitempty"`
	// TokensNotBefore: tokens issued before it are inactive. It moves
	// forward with NotBefore and also on disable, expiry, withdrawal of a
	// grant and removal of a public key; it never moves back.
	TokensNotBefore *time.Time `json:"tokensNotBefore,omitempty"`
	// RevokedBefore is version 1's name for TokensNotBefore; Parse moves it
	// there and Marshal never writes it.
	RevokedBefore *time.Time `json:"revokedBefore,omitempty"`

	// HandoverUntil is set while the ClientCredential is deleted with
	// continuity requested: the record waits, refused, for a re-created
	// credential of the same name to adopt it, until this time at the
	// latest. The token server treats it as deleted; see
	// docs/design/0028-continuity.md.
	HandoverUntil *time.Time `json:"handoverUntil,omitempty"`

	// AccessTokenLifetimeSeconds is the lifetime of new access tokens.
	AccessTokenLifetimeSeconds int64 `json:"accessTokenLifetimeSeconds"`

	// Federation is which workload tokens a Federated client presents in
	// place of a secret. Set for Federated records only (version 3).
	Federation *Federation `json:"federation,omitempty"`

	// Generation and AccountGeneration are the metadata.generation of the
	// ClientCredential and of the ServiceAccount (0 while absent) the
	// record was compiled from, and ChangedAt is when the manager first
	// compiled it for that pair. The manager compares them with the
	// objects to decide Propagated (docs/design/0029-replica-reports.md);
	// the token server does not read them, so older ones ignore them and
	// the format version does not change.
	Generation        int64      `json:"generation,omitempty"`
	AccountGeneration int64      `json:"accountGeneration,omitempty"`
	ChangedAt         *time.Time `json:"changedAt,omitempty"`

	// PreviousRetired says when and why the last previous secret or key
	// stopped being accepted, for the ClientCredential's status
	// (docs/rotation.md). It lives here, not only in the status, because
	// the record is what the manager decides from: a status read stale
	// from the cache could otherwise drop it. The token server does not
	// read it, so the format version does not change.
	PreviousRetired *Retirement `json:"previousRetired,omitempty"`
}

// Retirement is when and why a previous secret or key stopped being
// accepted. It names times, reasons and source addresses only.
type Retirement struct {
	At      time.Time `json:"at"`
	Reason  string    `json:"reason"`
	Message string    `json:"message,omitempty"`
}

// Federation is a Federated credential's trust, as in the ClientCredential's
// spec.federation, with the defaults resolved.
type Federation struct {
	// Issuer is the iss the token must carry; empty means this cluster's
	// ServiceAccount issuer, whose tokens the token server checks with a
	// TokenReview.
	Issuer string `json:"issuer,omitempty"`
	// Subject is the exact sub the token must carry.
	Subject string `json:"subject"`
	// Audience is the aud the token must carry.
	Audience string `json:"audience"`
	// Claims is a CEL claim rule (internal/federation); empty means none.
	Claims string `json:"claims,omitempty"`
	// JWKSURL is where the issuer's keys are; empty means its discovery
	// document's jwks_uri.
	JWKSURL string `json:"jwksUrl,omitempty"`
}

// SecretHash is one accepted secret, by its keyed hash.
type SecretHash struct {
	// Hash is a credential.Hasher hash string.
	Hash string `json:"hash"`
	// IssuedAt is when the secret was generated; it must not be before the
	// record's NotBefore.
	IssuedAt *time.Time `json:"issuedAt,omitempty"`
	// NotAfter ends a previous secret's grace period. Unset for the current
	// secret, which is bounded by Record.ExpiresAt instead.
	NotAfter *time.Time `json:"notAfter,omitempty"`
}

// PublicKey is one client public key, as a JWK (RFC 7517) with "kid" and
// "alg" always present, so that the token server never takes an algorithm
// from an assertion's header.
type PublicKey struct {
	// JWK is the public key in JSON Web Key form.
	JWK json.RawMessage `json:"jwk"`
	// IssuedAt is when Signet generated the key pair; unset for keys the
	// user supplied, which the spec declares anew at every reconcile.
	IssuedAt *time.Time `json:"issuedAt,omitempty"`
	// NotAfter ends a previous key's grace period. Unset for current keys.
	NotAfter *time.Time `json:"notAfter,omitempty"`
}

// Marshal encodes a record for the RecordKey of its Secret.
func (r *Record) Marshal() ([]byte, error) {
	r.Version = versionBefore3
	if r.HandoverUntil != nil || r.Federation != nil {
		r.Version = Version
	}
	if r.RevokedBefore != nil {
		r.TokensNotBefore = Latest(r.TokensNotBefore, r.RevokedBefore)
		r.RevokedBefore = nil
	}
	return json.Marshal(r)
}

// Parse decodes and checks a record. Errors never include record contents.
func Parse(data []byte) (*Record, error) {
	if len(data) > MaxRecordBytes {
		return nil, fmt.Errorf("record is %d bytes, more than the %d allowed", len(data), MaxRecordBytes)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, errors.New("record is not valid JSON")
	}
	if r.Version < 1 || r.Version > Version {
		return nil, fmt.Errorf("record format version %d is not supported (this build reads 1 to %d)", r.Version, Version)
	}
	if r.ClientID == "" || r.Subject == "" {
		return nil, errors.New("record lacks clientId or subject")
	}
	switch r.Type {
	case TypeClientSecret, TypeAPIKey, TypePrivateKeyJWT:
		if r.Federation != nil {
			return nil, errors.New("record of a non-Federated credential has federation set")
		}
	case TypeFederated:
		if r.Federation == nil || r.Federation.Subject == "" || r.Federation.Audience == "" {
			return nil, errors.New("record of a Federated credential lacks federation subject or audience")
		}
		if len(r.Secrets) > 0 || len(r.PublicKeys) > 0 {
			return nil, errors.New("record of a Federated credential holds secrets or keys")
		}
	default:
		return nil, fmt.Errorf("record has unknown credential type %q", r.Type)
	}
	if r.AccessTokenLifetimeSeconds <= 0 {
		return nil, errors.New("record lacks accessTokenLifetimeSeconds")
	}
	if r.RevokedBefore != nil {
		r.TokensNotBefore = Latest(r.TokensNotBefore, r.RevokedBefore)
		r.RevokedBefore = nil
	}
	return &r, nil
}

// Usable reports whether the credential may authenticate at now, and if not,
// a short reason fit for an audit line ("revoked", "disabled", "expired").
func (r *Record) Usable(now time.Time) (bool, string) {
	switch {
	case r.HandoverUntil != nil:
		return false, "deleted"
	case r.Revoked:
		return false, "revoked"
	case r.Disabled:
		return false, "disabled"
	case r.ExpiresAt != nil && !now.Before(*r.ExpiresAt):
		return false, "expired"
	}
	return true, ""
}

// AcceptedSecrets returns the hashes accepted at now: the current secret and
// any previous one whose grace has not ended, each issued no earlier than
// NotBefore.
func (r *Record) AcceptedSecrets(now time.Time) []SecretHash {
	return accepted(r, r.Secrets, now, func(s SecretHash) (*time.Time, *time.Time) { return s.IssuedAt, s.NotAfter })
}

// AcceptedPublicKeys returns the public keys accepted at now.
func (r *Record) AcceptedPublicKeys(now time.Time) []PublicKey {
	return accepted(r, r.PublicKeys, now, func(k PublicKey) (*time.Time, *time.Time) {
		if k.IssuedAt == nil {
			// A supplied key: the spec lists it, so NotBefore, which is
			// about what Signet issued, does not apply.
			return r.NotBefore, k.NotAfter
		}
		return k.IssuedAt, k.NotAfter
	})
}

// accepted is the one rule for secrets and keys alike: issued no earlier
// than NotBefore (a version 1 record has none), and within its grace.
func accepted[T any](r *Record, items []T, now time.Time, times func(T) (issuedAt, notAfter *time.Time)) []T {
	out := make([]T, 0, len(items))
	for _, it := range items {
		issuedAt, notAfter := times(it)
		if r.NotBefore != nil && (issuedAt == nil || issuedAt.Before(*r.NotBefore)) {
			continue
		}
		if notAfter == nil || now.Before(*notAfter) {
			out = append(out, it)
		}
	}
	return out
}

// MatchSecret returns the record to issue tokens under when one of the
// accepted secrets satisfies match (which must compare in constant time):
// the record itself for the current secret, or a copy whose ExpiresAt is
// the previous secret's grace deadline, so a token minted with a secret in
// grace never outlives that secret.
func (r *Record) MatchSecret(now time.Time, match func(hash string) bool) (*Record, bool) {
	for _, h := range r.AcceptedSecrets(now) {
		if match(h.Hash) {
			return r.Until(h.NotAfter), true
		}
	}
	return nil, false
}

// Until returns r, or a shallow copy of r that expires at notAfter when
// that is earlier than r's own expiry.
func (r *Record) Until(notAfter *time.Time) *Record {
	if notAfter == nil || (r.ExpiresAt != nil && !notAfter.Before(*r.ExpiresAt)) {
		return r
	}
	c := *r
	c.ExpiresAt = notAfter
	return &c
}

// GrantsInForce reports whether the compiled scopes and audiences still
// hold at now. Past GrantsExpireAt one of the rules they came from has
// expired and the manager has not yet recompiled them; until it does, the
// record grants nothing, failing closed.
func (r *Record) GrantsInForce(now time.Time) bool {
	return r.GrantsExpireAt == nil || now.Before(*r.GrantsExpireAt)
}

// TokenExpiry is when a token minted at now expires: now plus the token
// lifetime, but never past the credential's (and account's) expiry, nor
// the expiry of the grants that gave its scopes.
func (r *Record) TokenExpiry(now time.Time) time.Time {
	exp := now.Add(time.Duration(r.AccessTokenLifetimeSeconds) * time.Second)
	for _, limit := range []*time.Time{r.ExpiresAt, r.GrantsExpireAt} {
		if limit != nil && limit.Before(exp) {
			exp = *limit
		}
	}
	return exp.Truncate(time.Second)
}

// Backs reports whether the record still backs a token issued at issued
// with scopes and audiences, at now: the credential is usable, the token
// is not older than TokensNotBefore, and every scope and audience (but
// defaultAudience, which is not a grant) is still granted.
func (r *Record) Backs(issued, now time.Time, scopes, audiences []string, defaultAudience string) bool {
	if r.IssuedBeforeEpoch(issued) {
		return false
	}
	if ok, _ := r.Usable(now); !ok {
		return false
	}
	if len(scopes) > 0 && (!r.GrantsInForce(now) || !r.HasScopes(scopes)) {
		return false
	}
	for _, aud := range audiences {
		if aud != defaultAudience && (!r.GrantsInForce(now) || !r.HasAudience(aud)) {
			return false
		}
	}
	return true
}

// HasScopes reports whether every scope in want is granted.
func (r *Record) HasScopes(want []string) bool {
	for _, s := range want {
		if _, ok := slices.BinarySearch(r.Scopes, s); !ok {
			return false
		}
	}
	return true
}

// HasAudience reports whether aud is one the client may request.
func (r *Record) HasAudience(aud string) bool {
	_, ok := slices.BinarySearch(r.Audiences, aud)
	return ok
}

// IssuedBeforeEpoch reports whether a token issued at issuedAt predates
// TokensNotBefore and is therefore inactive.
func (r *Record) IssuedBeforeEpoch(issuedAt time.Time) bool {
	return r.TokensNotBefore != nil && issuedAt.Before(*r.TokensNotBefore)
}

// Latest returns the later of two optional times, so that a not-before
// only ever moves forward.
func Latest(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil || !b.After(*a):
		return a
	}
	return b
}
