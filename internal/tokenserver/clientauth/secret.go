package clientauth

import (
	"context"
	"net/http"
	"time"

	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/form"
)

// client_secret_basic and client_secret_post (RFC 6749 2.3.1): a
// ClientSecret client's client_id and secret, in an Authorization header of
// the Basic scheme or as form parameters.

func readBasic(h http.Header, _ form.Values) (*Credentials, *Failure) {
	authz := h.Values("Authorization")
	if len(authz) != 1 || !isBasic(authz[0]) {
		return nil, nil
	}
	id, secret, err := ParseBasic(authz[0])
	if err != nil {
		return nil, fail(CodeInvalidClient, ReasonMalformed, "the Basic credentials are malformed")
	}
	return &Credentials{Method: MethodBasic, ClientID: id, Secret: secret}, nil
}

func shapeBasic(c Credentials, f form.Values) *Failure {
	if f.Has("client_id") && f.Get("client_id") != c.ClientID {
		return fail(CodeInvalidRequest, ReasonMalformed, "client_id differs from the Basic user name")
	}
	return nil
}

func readPost(_ http.Header, f form.Values) (*Credentials, *Failure) {
	if !f.Has("client_secret") {
		return nil, nil
	}
	return &Credentials{Method: MethodPost, ClientID: f.Get("client_id"), Secret: f.Get("client_secret")}, nil
}

func shapePost(c Credentials, _ form.Values) *Failure {
	if c.ClientID == "" {
		return fail(CodeInvalidRequest, ReasonMalformed, "client_secret_post requires client_id")
	}
	return nil
}

func (a *Authenticator) clientSecret(_ context.Context, c Credentials, now time.Time) (proof, *Failure) {
	rec, f := a.lookup(c.ClientID, record.TypeClientSecret)
	if f != nil {
		return proof{}, f
	}
	hasher := a.Index.Hasher()
	if hasher == nil {
		return proof{}, fail(CodeUnavailable, ReasonNotReady, "the server has not loaded its keys yet")
	}
	if credential.CheckSecret(credential.ClientSecretKind, c.Secret) != nil {
		return proof{}, fail(CodeInvalidClient, ReasonMalformedSecret, "client authentication failed")
	}
	if via, previous, ok := matchSecret(rec, now, func(hash string) bool {
		ok, _ := hasher.Verify(credential.SecretDomain, c.Secret, hash)
		return ok
	}); ok {
		return proof{rec: via, previous: previous}, nil
	}
	return proof{}, fail(CodeInvalidClient, ReasonWrongSecret, "client authentication failed")
}

// matchSecret finds which accepted secret of rec satisfies match, and
// whether it is a previous one (in grace).
func matchSecret(rec *record.Record, now time.Time, match func(hash string) bool) (via *record.Record, previous, ok bool) {
	var matched string
	via, ok = rec.MatchSecret(now, func(hash string) bool {
		if match(hash) {
			matched = hash
			return true
		}
		return false
	})
	if !ok {
		return nil, false, false
	}
	for _, s := range rec.Secrets {
		if s.Hash == matched {
			return via, s.NotAfter != nil, true
		}
	}
	return via, false, true
}
