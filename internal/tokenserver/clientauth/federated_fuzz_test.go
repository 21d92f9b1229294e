package clientauth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/testutil/oidcissuer"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/index"
	"github.com/signet-iam/signet/internal/tokenserver/jwks"
)

// reviewerFunc is a TokenReviewer that answers from a function.
type reviewerFunc func(token, audience string) (clientauth.Review, error)

func (f reviewerFunc) Review(_ context.Context, token, audience string) (clientauth.Review, error) {
	return f(token, audience)
}

// FuzzFederatedToken presents any string, and any edit of a valid workload
// token, as a Federated client's token, to a credential of another issuer
// and to one of this cluster's. Nothing may panic, a refusal always carries
// one of the RFC 6749 codes with a fixed description (never the input),
// and only the untouched token is accepted.
func FuzzFederatedToken(f *testing.F) {
	is, err := oidcissuer.Start()
	if err != nil {
		f.Fatal(err)
	}
	defer is.Close()
	now := time.Now()
	fx, err := fixture.New("ns", signing.ES256, now)
	if err != nil {
		f.Fatal(err)
	}
	idx := index.New()
	add := func(fed record.Federation) {
		c, err := fx.NewClient(record.TypeFederated, "builder", nil, nil)
		if err != nil {
			f.Fatal(err)
		}
		c.Record.Namespace = "ns"
		c.Record.Federation = &fed
		s, err := fx.RecordSecret(c)
		if err != nil {
			f.Fatal(err)
		}
		if err := idx.ApplySecret(s); err != nil {
			f.Fatal(err)
		}
	}
	add(record.Federation{Issuer: is.URL, Subject: "job", Audience: "signet", Claims: `claims.env == "prod"`})
	add(record.Federation{Subject: "system:serviceaccount:ns:builder", Audience: "signet"})
	auth := &clientauth.Authenticator{Index: idx, Now: func() time.Time { return now },
		Federation: &clientauth.Federation{Keys: &jwks.Cache{MinRefresh: time.Hour},
			Reviewer: reviewerFunc(func(string, string) (clientauth.Review, error) {
				return clientauth.Review{}, errors.New("no API server in a fuzz test")
			})}}
	valid, err := is.Sign(jwt.MapClaims{"sub": "job", "aud": "signet", "exp": now.Add(time.Minute).Unix(), "iat": now.Unix(), "env": "prod"})
	if err != nil {
		f.Fatal(err)
	}
	sa, _ := is.Sign(jwt.MapClaims{"iss": "https://kubernetes.default.svc", "sub": "system:serviceaccount:ns:builder", "aud": "signet", "exp": now.Add(time.Minute).Unix()})
	f.Add(valid)
	f.Add(sa)
	f.Add(valid[:len(valid)-4] + "AAAA")
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("e30.e30.")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiIiLCJzdWIiOiIifQ.")
	f.Fuzz(func(t *testing.T, token string) {
		for _, m := range []clientauth.Method{clientauth.MethodJWT, clientauth.MethodFederated} {
			rec, _, fl := auth.Check(context.Background(), clientauth.Credentials{Method: m, Assertion: token})
			if fl == nil {
				if token != valid || rec == nil {
					t.Fatalf("accepted an edited token: %q", token)
				}
				continue
			}
			switch fl.Code {
			case clientauth.CodeInvalidClient, clientauth.CodeInvalidRequest, clientauth.CodeUnauthorizedClient, clientauth.CodeUnavailable:
			default:
				t.Fatalf("refused with code %q", fl.Code)
			}
			if len(token) > 8 && strings.Contains(fl.Description, token) {
				t.Fatalf("the description holds the input: %q", fl.Description)
			}
		}
	})
}
