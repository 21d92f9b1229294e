package clientauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/form"
)

// Bounds on client assertions (SECURITY.md 9 and 14).
const (
	// MaxAssertionBytes is checked before any parsing.
	MaxAssertionBytes = 8 << 10
	// MaxAssertionLifetime is how far ahead of now an assertion's exp may be.
	MaxAssertionLifetime = 5 * time.Minute
	// ClockSkew is how far in the future iat and nbf may be, and how long
	// after exp an assertion is still taken, for clients whose clocks run
	// a little off.
	ClockSkew = 30 * time.Second
	// maxJTI bounds the jti, which becomes part of a stored object's name
	// only through a hash, but is read in full.
	maxJTI = 256
)

// asymmetric are the JWS algorithms a client key may have. "none" and the
// HMAC family are absent: a public key must never act as a shared secret
// (RFC 8725 3.1, 3.2).
var asymmetric = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"EdDSA": true,
}

// AssertionAlgorithms lists the algorithms a client key may have, for
// discovery.
func AssertionAlgorithms() []string {
	return []string{"ES256", "ES384", "ES512", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512"}
}

type assertionClaims struct {
	jwt.RegisteredClaims
}

// CheckAssertionShape bounds an assertion before it is parsed: size and
// exactly three segments, so that a crafted input cannot make the parser
// split or allocate without limit (CVE-2025-30204).
func CheckAssertionShape(s string) error {
	if len(s) == 0 || len(s) > MaxAssertionBytes || strings.Count(s, ".") != 2 {
		return errors.New("assertion is malformed")
	}
	return nil
}

// PeekIssuer reads the iss claim of an assertion without verifying it, only
// to find whose keys to verify it with.
func PeekIssuer(assertion string) (string, error) {
	if err := CheckAssertionShape(assertion); err != nil {
		return "", err
	}
	var c assertionClaims
	if _, _, err := jwt.NewParser().ParseUnverified(assertion, &c); err != nil {
		return "", errors.New("assertion is malformed")
	}
	return c.Issuer, nil
}

// private_key_jwt (RFC 7523 2.2): a client assertion, which is either a
// PrivateKeyJWT client's own or a Federated client's workload token.

func readAssertion(_ http.Header, f form.Values) (*Credentials, *Failure) {
	if !f.Has("client_assertion") && !f.Has("client_assertion_type") {
		return nil, nil
	}
	return &Credentials{Method: MethodJWT, ClientID: f.Get("client_id"), Assertion: f.Get("client_assertion")}, nil
}

func shapeAssertion(c Credentials, f form.Values) *Failure {
	if f.Get("client_assertion_type") != AssertionType || c.Assertion == "" {
		return fail(CodeInvalidRequest, ReasonMalformed, "private_key_jwt requires client_assertion and client_assertion_type "+AssertionType)
	}
	return nil
}

// jwtBearer proves a client assertion: a workload token for a Federated
// client, else a private_key_jwt assertion.
func (a *Authenticator) jwtBearer(ctx context.Context, c Credentials, now time.Time) (proof, *Failure) {
	if a.isFederated(c) {
		return a.federated(ctx, c, now)
	}
	return a.assertion(c, now)
}

// isFederated tells a Federated client's workload token from a
// private_key_jwt assertion: by the named client's type, or without
// client_id by the token's issuer, which for an assertion is a client_id.
func (a *Authenticator) isFederated(c Credentials) bool {
	if c.ClientID != "" {
		rec := a.Index.Record(c.ClientID)
		return rec != nil && rec.Type == record.TypeFederated
	}
	return isFederatedAssertion(c)
}

func (a *Authenticator) assertion(c Credentials, now time.Time) (proof, *Failure) {
	iss, err := PeekIssuer(c.Assertion)
	if err != nil {
		return proof{}, fail(CodeInvalidClient, ReasonAssertion, "the client assertion is malformed")
	}
	if c.ClientID != "" && c.ClientID != iss {
		return proof{}, fail(CodeInvalidClient, ReasonAssertionClaims, "the client assertion was issued by another client")
	}
	rec, f := a.lookup(iss, record.TypePrivateKeyJWT)
	if f != nil {
		return proof{}, f
	}
	claims, until, f := a.verifyAssertion(c.Assertion, rec, now)
	if f != nil {
		return proof{}, f
	}
	rec = rec.Until(until) // a key in grace: no token outlives it
	// The assertion is accepted until exp plus the skew, so its jti must
	// be remembered that long.
	return proof{rec: rec, use: &Use{guard: a.Replay, clientID: rec.ClientID, jti: claims.ID, exp: claims.ExpiresAt.Add(ClockSkew)}}, nil
}

// Use is a verified assertion whose jti is not yet recorded as used.
type Use struct {
	guard         ReplayGuard
	clientID, jti string
	exp           time.Time
}

// Record marks the assertion's jti used, atomically across replicas. It
// fails when the jti was used before (a replay), when the client has too
// many assertions outstanding, or when the use could not be recorded; in
// every case nothing may be issued. A nil Use records nothing.
func (u *Use) Record(ctx context.Context) *Failure {
	if u == nil {
		return nil
	}
	first, err := u.guard.UseAssertion(ctx, u.clientID, u.jti, u.exp)
	switch {
	case err != nil && retryAfter(err) > 0:
		f := fail(CodeUnavailable, ReasonAssertionQuota, "the client has too many unexpired assertions in use; retry later")
		f.RetryAfter = retryAfter(err)
		return f
	case err != nil:
		return fail(CodeUnavailable, ReasonReplayCheckError, "the assertion could not be checked for replay; try again")
	case !first:
		return fail(CodeInvalidClient, ReasonAssertionReplay, "the client assertion was already used")
	}
	return nil
}

// retryAfter reads the wait from an error that carries one (the ledger's
// "too many outstanding assertions").
func retryAfter(err error) time.Duration {
	var ra interface{ RetryAfterDuration() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfterDuration()
	}
	return 0
}

// verifyAssertion checks signature and claims (RFC 7523 3, SECURITY.md
// 9-12). The key is chosen among the client's own by kid, and the key, not
// the header, fixes the algorithm. jku, x5u and jwk headers are never read.
func (a *Authenticator) verifyAssertion(assertion string, rec *record.Record, now time.Time) (*assertionClaims, *time.Time, *Failure) {
	var (
		keyErr *Failure
		until  *time.Time
	)
	keyfunc := func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			keyErr = fail(CodeInvalidClient, ReasonAssertion, "the client assertion has critical header parameters")
			return nil, errors.New("crit")
		}
		kid, _ := t.Header["kid"].(string)
		key, alg, notAfter, f := selectKey(rec, kid, now)
		until = notAfter
		if f != nil {
			keyErr = f
			return nil, errors.New("key")
		}
		if t.Method.Alg() != alg {
			keyErr = fail(CodeInvalidClient, ReasonAssertion, "the client assertion's algorithm does not match its key")
			return nil, errors.New("alg")
		}
		return key, nil
	}
	p := strictParser(now)
	var c assertionClaims
	if _, err := p.ParseWithClaims(assertion, &c, keyfunc); err != nil {
		if keyErr != nil {
			return nil, nil, keyErr
		}
		if errors.Is(err, jwt.ErrTokenExpired) || errors.Is(err, jwt.ErrTokenNotValidYet) ||
			errors.Is(err, jwt.ErrTokenUsedBeforeIssued) || errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
			return nil, nil, fail(CodeInvalidClient, ReasonAssertionTime, "the client assertion is expired, not yet valid, or lacks exp")
		}
		return nil, nil, fail(CodeInvalidClient, ReasonAssertion, "the client assertion is invalid")
	}
	return &c, until, checkAssertionClaims(&c, rec.ClientID, a.Issuer, now)
}

// strictParser checks what every signed token Signet accepts must pass:
// an asymmetric algorithm, exp present, and exp, nbf and iat against now
// with ClockSkew; extra adds checks of the claims.
func strictParser(now time.Time, extra ...jwt.ParserOption) *jwt.Parser {
	return jwt.NewParser(append([]jwt.ParserOption{
		jwt.WithValidMethods(AssertionAlgorithms()),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(ClockSkew),
		jwt.WithTimeFunc(func() time.Time { return now }),
	}, extra...)...)
}

func checkAssertionClaims(c *assertionClaims, clientID, issuer string, now time.Time) *Failure {
	switch {
	case c.Issuer != clientID || c.Subject != clientID:
		return fail(CodeInvalidClient, ReasonAssertionClaims, "the client assertion's iss and sub must both be the client_id")
	case c.ExpiresAt.Sub(now) > MaxAssertionLifetime+ClockSkew:
		return fail(CodeInvalidClient, ReasonAssertionTime, "the client assertion's exp is more than 5 minutes ahead")
	case len(c.Audience) != 1 || c.Audience[0] != issuer:
		// Only the issuer identifier, alone: not the token endpoint URL,
		// not an array with anything else (CVE-2025-27370, -27371).
		return fail(CodeInvalidClient, ReasonAssertionAud, "the client assertion's aud must be the issuer identifier")
	case c.ID == "" || len(c.ID) > maxJTI:
		return fail(CodeInvalidClient, ReasonAssertionClaims, "the client assertion needs a jti of at most 256 characters")
	}
	return nil
}

// selectKey returns the client's accepted key with kid, or its only key
// when kid is empty, with the algorithm the record fixes for it and the end
// of its grace (nil for a current key).
func selectKey(rec *record.Record, kid string, now time.Time) (any, string, *time.Time, *Failure) {
	keys := rec.AcceptedPublicKeys(now)
	var (
		chosen   *jose.JSONWebKey
		notAfter *time.Time
	)
	for _, k := range keys {
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(k.JWK, &jwk); err != nil {
			continue
		}
		if jwk.KeyID == kid || (kid == "" && len(keys) == 1) {
			chosen, notAfter = &jwk, k.NotAfter
			break
		}
	}
	if chosen == nil {
		return nil, "", nil, fail(CodeInvalidClient, ReasonAssertionKey, "the client assertion's kid names none of the client's keys")
	}
	pub := chosen.Public()
	if !asymmetric[chosen.Algorithm] || !pub.Valid() || !keyFits(pub.Key, chosen.Algorithm) {
		return nil, "", nil, fail(CodeInvalidClient, ReasonAssertionKey, "the client's key cannot verify assertions")
	}
	return pub.Key, chosen.Algorithm, notAfter, nil
}

// keyFits checks the key type against the algorithm the record gives it,
// so that a mislabelled key fails here rather than inside a verifier.
func keyFits(key any, alg string) bool {
	switch key.(type) {
	case *rsa.PublicKey:
		return alg[0] == 'R' || alg[0] == 'P'
	case *ecdsa.PublicKey:
		return alg[0] == 'E' && alg != "EdDSA"
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}
