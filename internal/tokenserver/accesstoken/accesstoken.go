// Package accesstoken mints and checks Signet's access tokens: JWTs in the
// profile of RFC 9068, signed by the current key of the signing key set.
//
// Each token's jti is a ULID: 48 bits of issue time in milliseconds and 80
// random bits. Introspection reads the issue instant from it, because the
// manager's revocation epoch has millisecond precision and the seconds of
// "iat" would wrongly kill tokens issued in the same second right after a
// rotation.
package accesstoken

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oklog/ulid/v2"

	"github.com/signet-iam/signet/internal/signing"
)

// Type is the JWS "typ" of an access token (RFC 9068 2.1).
const Type = "at+jwt"

// MaxBytes bounds a token the server will parse. Signet's tokens are well
// under 2 KiB even with RS256 and many scopes.
const MaxBytes = 8 << 10

// Claims are the claims of an access token (RFC 9068 2.2).
type Claims struct {
	jwt.RegisteredClaims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope,omitempty"`
}

// Scopes splits the scope claim.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// NewID returns a jti that records now to the millisecond.
func NewID(now time.Time) (string, error) {
	id, err := ulid.New(ulid.Timestamp(now), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generating a token ID: %w", err)
	}
	return id.String(), nil
}

// IssuedAt reads the issue instant from a jti made by NewID.
func IssuedAt(jti string) (time.Time, bool) {
	id, err := ulid.ParseStrict(jti)
	if err != nil {
		return time.Time{}, false
	}
	return ulid.Time(id.Time()), true
}

// Mint signs claims with key; the key fixes the algorithm.
func Mint(key *signing.Key, c *Claims) (string, error) {
	method := jwt.GetSigningMethod(key.Algorithm)
	if method == nil {
		return "", fmt.Errorf("signing algorithm %q is not supported", key.Algorithm)
	}
	t := jwt.NewWithClaims(method, c)
	t.Header["kid"] = key.ID
	t.Header["typ"] = Type
	return t.SignedString(key.Signer())
}

// ErrMalformed is returned for input that is not shaped like a token at all.
var ErrMalformed = errors.New("token is malformed")

// Check bounds a token before any parsing: its size and its number of
// dots, so that a crafted input cannot make the parser allocate or split
// without limit (CVE-2025-30204).
func Check(token string) error {
	if len(token) == 0 || len(token) > MaxBytes || strings.Count(token, ".") != 2 {
		return ErrMalformed
	}
	return nil
}

// Verify checks a token's size, signature, type, issuer and lifetime
// against the keys published at now, and returns its claims. It says nothing
// about revocation or the client's current grants; the caller checks those.
func Verify(token string, keys *signing.KeySet, issuer string, now time.Time) (*Claims, error) {
	c, _, err := verify(token, keys, issuer, now)
	return c, err
}

// verify is Verify, also returning the kid of the key that verified.
func verify(token string, keys *signing.KeySet, issuer string, now time.Time) (*Claims, string, error) {
	if err := Check(token); err != nil {
		return nil, "", err
	}
	if keys == nil {
		return nil, "", errors.New("no signing keys are loaded")
	}
	var kid string
	p := jwt.NewParser(
		jwt.WithValidMethods(signing.Algorithms),
		jwt.WithIssuer(issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var c Claims
	_, err := p.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if typ, _ := t.Header["typ"].(string); !strings.EqualFold(strings.TrimPrefix(typ, "application/"), Type) {
			return nil, errors.New("token is not an access token")
		}
		kid, _ = t.Header["kid"].(string)
		key := keys.Lookup(kid, now)
		if key == nil {
			return nil, errors.New("token names an unknown key")
		}
		if key.Algorithm != t.Method.Alg() {
			return nil, errors.New("token algorithm does not match its key")
		}
		return key.Signer().Public(), nil
	})
	if err != nil {
		return nil, "", err
	}
	if c.ID == "" || c.Subject == "" || c.ClientID == "" {
		return nil, "", errors.New("token lacks jti, sub or client_id")
	}
	return &c, kid, nil
}
