package accesstoken

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/signing"
)

func benchClaims(now time.Time) *Claims {
	jti, _ := NewID(now)
	return &Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "https://signet.example", Subject: "signet:tenant:bench", Audience: jwt.ClaimStrings{"https://orders.example"},
		ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)), IssuedAt: jwt.NewNumericDate(now), ID: jti,
	}, ClientID: "sgc_aaaaaaaaaaaaaaaaaaaaaaaaaa", Scope: "orders:read orders:write"}
}

// BenchmarkMint signs one access token per algorithm Signet offers.
func BenchmarkMint(b *testing.B) {
	for _, alg := range signing.Algorithms {
		b.Run(alg, func(b *testing.B) {
			now := time.Now()
			key, err := signing.NewKey(alg, now, now)
			if err != nil {
				b.Fatal(err)
			}
			c := benchClaims(now)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Mint(key, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify checks one access token's signature and claims per
// algorithm, as introspection does before consulting the index.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range signing.Algorithms {
		b.Run(alg, func(b *testing.B) {
			now := time.Now()
			key, err := signing.NewKey(alg, now.Add(-time.Minute), now.Add(-time.Minute))
			if err != nil {
				b.Fatal(err)
			}
			tok, err := Mint(key, benchClaims(now))
			if err != nil {
				b.Fatal(err)
			}
			ks := &signing.KeySet{Keys: []*signing.Key{key}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Verify(tok, ks, "https://signet.example", now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
