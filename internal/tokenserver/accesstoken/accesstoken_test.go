package accesstoken

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/signing"
)

func TestIDEncodesTheMillisecond(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 123_456_789, time.UTC)
	a, err := NewID(now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewID(now)
	if len(a) != 26 || a == b {
		t.Fatalf("ids %q %q", a, b)
	}
	got, ok := IssuedAt(a)
	if !ok || !got.Equal(now.Truncate(time.Millisecond)) {
		t.Fatalf("issued at %v, want %v", got, now.Truncate(time.Millisecond))
	}
	if _, ok := IssuedAt("not-a-ulid"); ok {
		t.Fatal("a foreign jti parsed")
	}
}

func TestMintAndVerifyEveryAlgorithm(t *testing.T) {
	now := time.Now()
	for _, alg := range signing.Algorithms {
		t.Run(alg, func(t *testing.T) {
			key, err := signing.NewKey(alg, now.Add(-time.Hour), now.Add(-time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			ks := &signing.KeySet{Keys: []*signing.Key{key}}
			jti, _ := NewID(now)
			c := &Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://i", Subject: "s", ID: jti,
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now)}, ClientID: "c"}
			tok, err := Mint(key, c)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Verify(tok, ks, "https://i", now); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if _, err := Verify(tok, ks, "https://other", now); err == nil {
				t.Fatal("a token of another issuer verified")
			}
			if _, err := Verify(tok, ks, "https://i", now.Add(2*time.Hour)); err == nil {
				t.Fatal("an expired token verified")
			}
			if _, err := Verify(tok+strings.Repeat(".", 5), ks, "https://i", now); !errors.Is(err, ErrMalformed) {
				t.Fatalf("too many dots: %v", err)
			}
		})
	}
}

func TestVerifyRefusesATokenWithoutTheAccessTokenType(t *testing.T) {
	now := time.Now()
	key, _ := signing.NewKey(signing.ES256, now.Add(-time.Hour), now.Add(-time.Hour))
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "https://i", "sub": "s", "jti": "j", "client_id": "c",
		"exp": now.Add(time.Hour).Unix()})
	tok.Header["kid"] = key.ID
	s, _ := tok.SignedString(key.Signer())
	if _, err := Verify(s, &signing.KeySet{Keys: []*signing.Key{key}}, "https://i", now); err == nil {
		t.Fatal("a JWT without typ at+jwt verified as an access token")
	}
}
