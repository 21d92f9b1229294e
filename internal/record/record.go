package record

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Version is the record format written by this code. Readers refuse
// records with a higher version instead of misreading them.
const Version = 1

// CredentialType values, as in the ClientCredential API.
const (
	TypeClientSecret  = "ClientSecret"
	TypeAPIKey        = "APIKey"
	TypePrivateKeyJWT = "PrivateKeyJWT"
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
	// RevokedBefore is the revocation epoch: tokens issued before it are
	// inactive. It moves forward on revoke, disable, and rotation without
	// grace; it never moves back.
	RevokedBefore *time.Time `json:"revokedBefore,omitempty"`

	// AccessTokenLifetimeSeconds is the lifetime of new access tokens.
	AccessTokenLifetimeSeconds int64 `json:"accessTokenLifetimeSeconds"`
}

// SecretHash is one accepted secret, by its keyed hash.
type SecretHash struct {
	// Hash is a credential.Hasher hash string.
	Hash string `json:"hash"`
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
	// NotAfter ends a previous key's grace period. Unset for current keys.
	NotAfter *time.Time `json:"notAfter,omitempty"`
}

// Marshal encodes a record for the RecordKey of its Secret.
func (r *Record) Marshal() ([]byte, error) {
	r.Version = Version
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
	default:
		return nil, fmt.Errorf("record has unknown credential type %q", r.Type)
	}
	if r.AccessTokenLifetimeSeconds <= 0 {
		return nil, errors.New("record lacks accessTokenLifetimeSeconds")
	}
	return &r, nil
}

// Usable reports whether the credential may authenticate at now, and if not,
// a short reason fit for an audit line ("revoked", "disabled", "expired").
func (r *Record) Usable(now time.Time) (bool, string) {
	switch {
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
// any previous one whose grace has not ended.
func (r *Record) AcceptedSecrets(now time.Time) []SecretHash {
	out := make([]SecretHash, 0, len(r.Secrets))
	for _, s := range r.Secrets {
		if s.NotAfter == nil || now.Before(*s.NotAfter) {
			out = append(out, s)
		}
	}
	return out
}

// AcceptedPublicKeys returns the public keys accepted at now.
func (r *Record) AcceptedPublicKeys(now time.Time) []PublicKey {
	out := make([]PublicKey, 0, len(r.PublicKeys))
	for _, k := range r.PublicKeys {
		if k.NotAfter == nil || now.Before(*k.NotAfter) {
			out = append(out, k)
		}
	}
	return out
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

// IssuedBeforeEpoch reports whether a token issued at issuedAt predates the
// revocation epoch and is therefore inactive.
func (r *Record) IssuedBeforeEpoch(issuedAt time.Time) bool {
	return r.RevokedBefore != nil && issuedAt.Before(*r.RevokedBefore)
}
