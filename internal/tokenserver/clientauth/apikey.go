package clientauth

import (
	"context"
	"net/http"
	"time"

	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/tokenserver/form"
)

// The API-key method: Signet's API key, sent as the "apikey" parameter of
// the API-key grant and alone, since the key names its client.

func readAPIKey(_ http.Header, f form.Values) (*Credentials, *Failure) {
	if !f.Has("apikey") {
		return nil, nil
	}
	return &Credentials{Method: MethodAPIKey, Secret: f.Get("apikey")}, nil
}

func shapeAPIKey(_ Credentials, f form.Values) *Failure {
	if f.Has("client_id") {
		return fail(CodeInvalidRequest, ReasonMalformed, "an API key is presented without client_id")
	}
	return nil
}

// apiKey finds the record by the key's hash under each hash key, then
// confirms the match is a hash still accepted, comparing in constant time.
func (a *Authenticator) apiKey(_ context.Context, c Credentials, now time.Time) (proof, *Failure) {
	hasher := a.Index.Hasher()
	if hasher == nil {
		return proof{}, fail(CodeUnavailable, ReasonNotReady, "the server has not loaded its keys yet")
	}
	if credential.CheckSecret(credential.APIKeyKind, c.Secret) != nil {
		return proof{}, fail(CodeInvalidClient, ReasonMalformedSecret, "the API key is not valid")
	}
	rec, matched := a.Index.RecordByAPIKeyHash(hasher.HashAll(credential.SecretDomain, c.Secret))
	if rec == nil {
		return proof{}, fail(CodeInvalidClient, ReasonWrongSecret, "the API key is not valid")
	}
	if via, previous, ok := matchSecret(rec, now, func(hash string) bool {
		if hash != matched {
			return false
		}
		ok, err := hasher.Verify(credential.SecretDomain, c.Secret, hash)
		return ok && err == nil
	}); ok {
		return proof{rec: via, previous: previous}, nil
	}
	return proof{}, fail(CodeInvalidClient, ReasonWrongSecret, "the API key is not valid")
}
