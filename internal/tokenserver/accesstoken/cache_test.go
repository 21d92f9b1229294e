package accesstoken

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/signing"
)

func TestCacheNeverOutlivesWhatVerifiedTheToken(t *testing.T) {
	now := time.Now()
	key, err := signing.NewKey(signing.ES256, now.Add(-time.Hour), now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ks := &signing.KeySet{Keys: []*signing.Key{key}}
	jti, _ := NewID(now)
	tok, err := Mint(key, &Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://i", Subject: "s", ID: jti,
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now)}, ClientID: "c"})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCache(10)
	first, err := c.Verify(tok, ks, "https://i", now)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := c.Verify(tok, ks, "https://i", now); err != nil || again != first {
		t.Fatalf("a second verification did not come from the cache: %v", err)
	}
	for name, check := range map[string]func() error{
		"another issuer": func() error { _, err := c.Verify(tok, ks, "https://other", now); return err },
		"after exp":      func() error { _, err := c.Verify(tok, ks, "https://i", now.Add(2*time.Hour)); return err },
		"a key set without the key": func() error {
			other, _ := signing.NewKey(signing.ES256, now.Add(-time.Hour), now.Add(-time.Hour))
			_, err := c.Verify(tok, &signing.KeySet{Keys: []*signing.Key{other}}, "https://i", now)
			return err
		},
		"no key set": func() error { _, err := c.Verify(tok, nil, "https://i", now); return err },
		"another token with the same claims": func() error {
			_, err := c.Verify(tok[:len(tok)-2]+"AA", ks, "https://i", now)
			return err
		},
	} {
		if check() == nil {
			t.Errorf("%s: the cached token verified", name)
		}
	}
}
