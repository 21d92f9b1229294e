package clientauth_test

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"time"

	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/index"
)

// BenchmarkVerifySecret is the keyed-hash check of one client secret (the
// ≤ 2 µs target): CheckSecret's checksum, then HMAC-SHA-256 and a
// constant-time compare.
func BenchmarkVerifySecret(b *testing.B) {
	fx, c := benchClient(b)
	hash := c.Record.Secrets[0].Hash
	b.ReportAllocs()
	for b.Loop() {
		if credential.CheckSecret(credential.ClientSecretKind, c.Secret) != nil {
			b.Fatal("malformed")
		}
		if ok, _ := fx.Hasher.Verify(credential.SecretDomain, c.Secret, hash); !ok {
			b.Fatal("mismatch")
		}
	}
}

// BenchmarkAuthenticateClientSecret is the whole client_secret_basic
// authentication after parsing: lookup, checks, verification.
func BenchmarkAuthenticateClientSecret(b *testing.B) {
	fx, c := benchClient(b)
	idx := index.New()
	for _, get := range []func() (any, error){
		func() (any, error) { return fx.HashKeySecret() },
		func() (any, error) { return fx.RecordSecret(c) },
	} {
		s, err := get()
		if err != nil {
			b.Fatal(err)
		}
		if err := idx.ApplySecret(asSecret(s)); err != nil {
			b.Fatal(err)
		}
	}
	a := &clientauth.Authenticator{Index: idx, Now: time.Now}
	creds := clientauth.Credentials{Method: clientauth.MethodBasic, ClientID: c.ID(), Secret: c.Secret}
	b.ReportAllocs()
	for b.Loop() {
		if _, f := a.Authenticate(context.Background(), creds); f != nil {
			b.Fatal(f.Reason)
		}
	}
}

func benchClient(b *testing.B) (*fixture.Fixture, *fixture.Client) {
	fx, err := fixture.New("ns", signing.ES256, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	c, err := fx.NewClient(record.TypeClientSecret, "bench", []string{"a"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return fx, c
}

func asSecret(v any) *corev1.Secret { return v.(*corev1.Secret) }
