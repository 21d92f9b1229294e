package clientauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/index"
)

const malformedIssuer = "https://signet.example"

// memoryReplay is an in-process ReplayGuard: the cross-replica one is tested
// against the real API server; here only "used twice" matters.
type memoryReplay struct {
	mu   sync.Mutex
	used map[string]bool
}

func (m *memoryReplay) UseAssertion(_ context.Context, clientID, jti string, _ time.Time) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := clientID + "\x00" + jti
	if m.used[key] {
		return false, nil
	}
	m.used[key] = true
	return true, nil
}

// assertionWorld is one PrivateKeyJWT client, a second client, and an
// authenticator over an index holding both.
type assertionWorld struct {
	t      *testing.T
	now    time.Time
	client *fixture.Client
	other  *fixture.Client
	auth   *clientauth.Authenticator
	jti    int
}

func newAssertionWorld(t *testing.T) *assertionWorld {
	now := time.Now().Truncate(time.Second)
	fx, err := fixture.New("ns", signing.ES256, now)
	if err != nil {
		t.Fatal(err)
	}
	w := &assertionWorld{t: t, now: now}
	idx := index.New()
	hk, err := fx.HashKeySecret()
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.ApplySecret(hk); err != nil {
		t.Fatal(err)
	}
	for _, c := range []**fixture.Client{&w.client, &w.other} {
		if *c, err = fx.NewClient(record.TypePrivateKeyJWT, "jwt", nil, nil); err != nil {
			t.Fatal(err)
		}
		s, err := fx.RecordSecret(*c)
		if err != nil {
			t.Fatal(err)
		}
		if err := idx.ApplySecret(s); err != nil {
			t.Fatal(err)
		}
	}
	w.auth = &clientauth.Authenticator{Index: idx, Issuer: malformedIssuer,
		Replay: &memoryReplay{used: map[string]bool{}}, Now: func() time.Time { return now }}
	return w
}

// claims are those of an assertion that passes every check.
func (w *assertionWorld) claims() jwt.MapClaims {
	w.jti++
	id := w.client.ID()
	return jwt.MapClaims{"iss": id, "sub": id, "aud": malformedIssuer,
		"iat": w.now.Unix(), "exp": w.now.Add(time.Minute).Unix(), "jti": "jti-" + strings.Repeat("x", w.jti)}
}

// sign signs claims with the client's key and kid, after edit changed the
// header.
func (w *assertionWorld) sign(c jwt.MapClaims, edit func(hdr map[string]any)) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, c)
	tok.Header["kid"] = w.client.KeyID
	if edit != nil {
		edit(tok.Header)
	}
	s, err := tok.SignedString(w.client.PrivateKey)
	if err != nil {
		w.t.Fatal(err)
	}
	return s
}

func (w *assertionWorld) with(edit func(c jwt.MapClaims)) string {
	c := w.claims()
	edit(c)
	return w.sign(c, nil)
}

func (w *assertionWorld) authenticate(assertion string) *clientauth.Failure {
	_, f := w.auth.Authenticate(context.Background(),
		clientauth.Credentials{Method: clientauth.MethodJWT, Assertion: assertion})
	return f
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// TestMalformedAssertions is the catalogue of broken client assertions
// (RFC 7523 3, RFC 8725, SECURITY.md 9-12 and 14), each with the exact
// error the token server answers and the reason its audit line records.
// Every description is fixed text: none quotes the assertion.
func TestMalformedAssertions(t *testing.T) {
	const (
		malformed = "the client assertion is malformed"
		invalid   = "the client assertion is invalid"
		lifetime  = "the client assertion is expired, not yet valid, or lacks exp"
		issSub    = "the client assertion's iss and sub must both be the client_id"
		audience  = "the client assertion's aud must be the issuer identifier"
		jtiNeeded = "the client assertion needs a jti of at most 256 characters"
		unknownID = "client authentication failed"
	)
	type want struct{ reason, description string }
	cases := map[string]struct {
		assertion func(w *assertionWorld) string
		want      want
	}{
		"empty": {func(*assertionWorld) string { return "" }, want{"assertion_invalid", malformed}},
		"two segments": {func(w *assertionWorld) string {
			p := strings.Split(w.sign(w.claims(), nil), ".")
			return p[0] + "." + p[1]
		}, want{"assertion_invalid", malformed}},
		"four segments": {func(w *assertionWorld) string { return w.sign(w.claims(), nil) + ".e30" }, want{"assertion_invalid", malformed}},
		"a thousand extra dots": {func(w *assertionWorld) string {
			return w.sign(w.claims(), nil) + strings.Repeat(".", 1000)
		}, want{"assertion_invalid", malformed}},
		"larger than 8 KiB": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("a", 9<<10) })
		}, want{"assertion_invalid", malformed}},
		"payload not base64url": {func(w *assertionWorld) string {
			p := strings.Split(w.sign(w.claims(), nil), ".")
			return p[0] + ".!!!." + p[2]
		}, want{"assertion_invalid", malformed}},
		"payload not JSON": {func(w *assertionWorld) string {
			p := strings.Split(w.sign(w.claims(), nil), ".")
			return p[0] + "." + b64("not json") + "." + p[2]
		}, want{"assertion_invalid", malformed}},
		"header not JSON": {func(w *assertionWorld) string {
			p := strings.Split(w.sign(w.claims(), nil), ".")
			return b64("{") + "." + p[1] + "." + p[2]
		}, want{"assertion_invalid", malformed}},
		"iss missing": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { delete(c, "iss") })
		}, want{"unknown_client", unknownID}},
		"iss names no client": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["iss"] = "sgc_zzzzzzzzzzzzzzzzzzzzzzzzzz" })
		}, want{"unknown_client", unknownID}},
		"iss names another client, signed with this client's key": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["iss"], c["sub"] = w.other.ID(), w.other.ID() })
		}, want{"assertion_unknown_key", "the client assertion's kid names none of the client's keys"}},
		"sub is not iss": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["sub"] = w.other.ID() })
		}, want{"assertion_claims", issSub}},
		"sub missing": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { delete(c, "sub") })
		}, want{"assertion_claims", issSub}},
		"alg none": {func(w *assertionWorld) string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, w.claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}, want{"assertion_invalid", invalid}},
		"HS256 keyed with the client's public key": {func(w *assertionWorld) string {
			der, _ := x509.MarshalPKIXPublicKey(w.client.PrivateKey.Public())
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, w.claims())
			tok.Header["kid"] = w.client.KeyID
			s, _ := tok.SignedString(der)
			return s
		}, want{"assertion_invalid", invalid}},
		"header alg ES384 for an ES256 key": {func(w *assertionWorld) string {
			k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			tok := jwt.NewWithClaims(jwt.SigningMethodES384, w.claims())
			tok.Header["kid"] = w.client.KeyID
			s, _ := tok.SignedString(k)
			return s
		}, want{"assertion_invalid", "the client assertion's algorithm does not match its key"}},
		"signed by a stranger's key under the client's kid": {func(w *assertionWorld) string {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, w.claims())
			tok.Header["kid"] = w.client.KeyID
			s, _ := tok.SignedString(k)
			return s
		}, want{"assertion_invalid", invalid}},
		"kid of another client's key": {func(w *assertionWorld) string {
			return w.sign(w.claims(), func(h map[string]any) { h["kid"] = w.other.KeyID })
		}, want{"assertion_unknown_key", "the client assertion's kid names none of the client's keys"}},
		"unknown kid": {func(w *assertionWorld) string {
			return w.sign(w.claims(), func(h map[string]any) { h["kid"] = "nope" })
		}, want{"assertion_unknown_key", "the client assertion's kid names none of the client's keys"}},
		"a stranger's key offered in jku, x5u and jwk headers": {func(w *assertionWorld) string {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, w.claims())
			tok.Header["kid"] = w.client.KeyID
			tok.Header["jku"] = "https://attacker.example/jwks"
			tok.Header["x5u"] = "https://attacker.example/cert"
			tok.Header["jwk"] = map[string]any{"kty": "EC", "crv": "P-256"}
			s, _ := tok.SignedString(k)
			return s
		}, want{"assertion_invalid", invalid}},
		"critical header": {func(w *assertionWorld) string {
			return w.sign(w.claims(), func(h map[string]any) { h["crit"] = []string{"exp"} })
		}, want{"assertion_invalid", "the client assertion has critical header parameters"}},
		"exp missing": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { delete(c, "exp") })
		}, want{"assertion_lifetime", lifetime}},
		"exp as a string": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["exp"] = "tomorrow" })
		}, want{"assertion_invalid", malformed}},
		"expired beyond the skew": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["exp"] = w.now.Add(-time.Minute).Unix() })
		}, want{"assertion_lifetime", lifetime}},
		"exp an hour ahead": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["exp"] = w.now.Add(time.Hour).Unix() })
		}, want{"assertion_lifetime", "the client assertion's exp is more than 5 minutes ahead"}},
		"exp in the year 9999": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["exp"] = int64(253402300799) })
		}, want{"assertion_lifetime", "the client assertion's exp is more than 5 minutes ahead"}},
		"nbf in the future": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["nbf"] = w.now.Add(time.Minute).Unix() })
		}, want{"assertion_lifetime", lifetime}},
		"iat in the future": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["iat"] = w.now.Add(time.Minute).Unix() })
		}, want{"assertion_lifetime", lifetime}},
		"aud is the token endpoint URL": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["aud"] = malformedIssuer + "/oauth2/token" })
		}, want{"assertion_audience", audience}},
		"aud array with a foreign value": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["aud"] = []string{malformedIssuer, "https://other.example"} })
		}, want{"assertion_audience", audience}},
		"aud array holding the issuer twice": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["aud"] = []string{malformedIssuer, malformedIssuer} })
		}, want{"assertion_audience", audience}},
		"aud with a trailing slash": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["aud"] = malformedIssuer + "/" })
		}, want{"assertion_audience", audience}},
		"aud missing": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { delete(c, "aud") })
		}, want{"assertion_audience", audience}},
		"jti missing": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { delete(c, "jti") })
		}, want{"assertion_claims", jtiNeeded}},
		"jti longer than 256 characters": {func(w *assertionWorld) string {
			return w.with(func(c jwt.MapClaims) { c["jti"] = strings.Repeat("j", 257) })
		}, want{"assertion_claims", jtiNeeded}},
		"jti used before": {func(w *assertionWorld) string {
			a := w.sign(w.claims(), nil)
			if f := w.authenticate(a); f != nil {
				w.t.Fatalf("the first use was refused: %s", f.Reason)
			}
			return a
		}, want{"assertion_replayed", "the client assertion was already used"}},
	}
	if len(cases) < 25 {
		t.Fatalf("the catalogue has %d cases; keep at least 25", len(cases))
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := newAssertionWorld(t)
			a := tc.assertion(w)
			f := w.authenticate(a)
			if f == nil {
				t.Fatal("accepted")
			}
			if f.Code != clientauth.CodeInvalidClient || f.Reason != tc.want.reason || f.Description != tc.want.description {
				t.Fatalf("got %s/%s %q, want invalid_client/%s %q", f.Code, f.Reason, f.Description, tc.want.reason, tc.want.description)
			}
			if len(a) > 16 && strings.Contains(f.Description, a[:16]) {
				t.Fatal("the description quotes the assertion")
			}
		})
	}

	// The control: the same world accepts a well-formed assertion, so each
	// refusal above is the edit's doing.
	w := newAssertionWorld(t)
	if f := w.authenticate(w.sign(w.claims(), nil)); f != nil {
		t.Fatalf("a valid assertion was refused: %s %q", f.Reason, f.Description)
	}
}
