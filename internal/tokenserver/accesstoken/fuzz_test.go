package accesstoken

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/signing"
)

// FuzzVerify feeds arbitrary tokens to the parser that introspection and
// revocation run on a caller's input: it must never panic, and whatever it
// accepts must verify under the published key with the claims Signet
// requires. The seeds include a valid token, so the fuzzer mutates real
// structure.
func FuzzVerify(f *testing.F) {
	const issuer = "https://signet.example"
	now := time.Unix(1_800_000_000, 0)
	key, err := signing.NewKey("ES256", now.Add(-time.Hour), now.Add(-time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	keys := &signing.KeySet{Keys: []*signing.Key{key}}
	id, _ := NewID(now)
	good, err := Mint(key, &Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: "signet:ns:acct", Audience: jwt.ClaimStrings{"api"}, ID: id,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		ClientID: "sgc_aaaaaaaaaaaaaaaaaaaaaaaaaa", Scope: "a b",
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	parts := strings.Split(good, ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + ".." + parts[2])
	f.Add(good + ".")
	f.Add("e30.e30.e30")
	f.Add(strings.Repeat("a", MaxBytes+1))
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := Verify(token, keys, issuer, now)
		if err != nil {
			return
		}
		if _, err := jwt.Parse(token, func(*jwt.Token) (any, error) { return key.Signer().Public(), nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithTimeFunc(func() time.Time { return now })); err != nil {
			t.Fatalf("accepted a token that does not verify: %v", err)
		}
		if c.Issuer != issuer || c.ID == "" || c.Subject == "" || c.ClientID == "" || c.ExpiresAt == nil {
			t.Fatalf("accepted claims %+v", c)
		}
	})
}
