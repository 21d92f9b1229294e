package clientauth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/form"
)

func mustParse(t *testing.T, body string) form.Values {
	t.Helper()
	v, err := form.Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// FuzzVerifyAssertion: whatever the assertion, verification neither panics
// nor accepts anything but a correctly signed one with valid claims. The
// seeds include a valid assertion, so the fuzzer mutates real structure.
func FuzzVerifyAssertion(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := jose.JSONWebKey{Key: key.Public(), KeyID: "k1", Algorithm: "ES256"}.MarshalJSON()
	const id, issuer = "sgc_aaaaaaaaaaaaaaaaaaaaaaaaaa", "https://issuer.example"
	rec := &record.Record{ClientID: id, Type: record.TypePrivateKeyJWT, PublicKeys: []record.PublicKey{{JWK: jwk}}}
	now := time.Unix(1_800_000_000, 0)
	sign := func(c jwt.MapClaims, alg jwt.SigningMethod, k any) string {
		tok := jwt.NewWithClaims(alg, c)
		tok.Header["kid"] = "k1"
		s, _ := tok.SignedString(k)
		return s
	}
	valid := jwt.MapClaims{"iss": id, "sub": id, "aud": issuer, "exp": now.Add(time.Minute).Unix(), "jti": "j1"}
	good := sign(valid, jwt.SigningMethodES256, key)
	f.Add(good)
	f.Add(sign(valid, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType))
	f.Add(sign(valid, jwt.SigningMethodHS256, []byte("secret")))
	f.Add(good + ".")
	f.Add(strings.Repeat(".", 10))
	f.Add("e30.e30.")
	f.Add("")
	a := &Authenticator{Issuer: issuer}
	f.Fuzz(func(t *testing.T, s string) {
		if CheckAssertionShape(s) != nil {
			return
		}
		_, _ = PeekIssuer(s)
		c, _, fl := a.verifyAssertion(s, rec, now)
		if fl != nil {
			return
		}
		// Anything accepted must verify with the client's key under ES256
		// and carry the required claims.
		if _, err := jwt.Parse(s, func(*jwt.Token) (any, error) { return key.Public(), nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(func() time.Time { return now })); err != nil {
			t.Fatalf("accepted an assertion that does not verify: %v", err)
		}
		if c.Issuer != id || c.Subject != id || c.ID == "" || len(c.Audience) != 1 || c.Audience[0] != issuer {
			t.Fatalf("accepted claims %+v", c)
		}
	})
}
