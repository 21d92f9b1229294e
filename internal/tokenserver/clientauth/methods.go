package clientauth

import (
	"context"
	"net/http"
	"time"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/form"
)

// method is one client authentication method: how a request presents it,
// how it is proved, and what discovery says of it. The table methods is the
// one list: Extract reads requests with it, Check dispatches on it, and the
// token server's discovery document is generated from it, so adding a
// method is adding an entry (and the file beside it).
type method struct {
	name Method
	// advertised: discovery lists the method in
	// *_endpoint_auth_methods_supported. Methods that are not a
	// registered client authentication method on the wire (the API key,
	// a Federated client's workload token) are not.
	advertised bool
	// signingAlgs are the algorithms a request of the method may sign
	// with, for *_endpoint_auth_signing_alg_values_supported.
	signingAlgs func() []string
	// challenge: a failed authentication answers 401 with
	// WWW-Authenticate (RFC 6749 5.2).
	challenge bool
	// read returns the credentials a request presents for the method, or
	// nil when it does not use the method; a failure (a malformed Basic
	// header) ends Extract at once. It is nil for a method Extract never
	// finds: a Federated client's assertion is read as private_key_jwt's,
	// and the token-exchange grant reads its subject_token itself.
	read func(http.Header, form.Values) (*Credentials, *Failure)
	// shape, when set, checks the rest of the request once the method is
	// known to be its only one.
	shape func(Credentials, form.Values) *Failure
	// check proves the credentials.
	check func(*Authenticator, context.Context, Credentials, time.Time) (proof, *Failure)
}

// proof is what a method's check established.
type proof struct {
	rec *record.Record
	// use is an assertion's jti, still to be recorded.
	use *Use
	// previous: the client used a previous secret, in grace.
	previous bool
}

var methods = []method{
	{name: MethodBasic, advertised: true, challenge: true, read: readBasic, shape: shapeBasic, check: (*Authenticator).clientSecret},
	{name: MethodPost, advertised: true, read: readPost, shape: shapePost, check: (*Authenticator).clientSecret},
	{name: MethodJWT, advertised: true, signingAlgs: AssertionAlgorithms, read: readAssertion, shape: shapeAssertion,
		check: (*Authenticator).jwtBearer},
	{name: MethodAPIKey, read: readAPIKey, shape: shapeAPIKey, check: (*Authenticator).apiKey},
	{name: MethodFederated, check: (*Authenticator).federated},
}

func findMethod(m Method) *method {
	for i := range methods {
		if methods[i].name == m {
			return &methods[i]
		}
	}
	return nil
}

// Methods lists every method, in the order Extract tries them.
func Methods() []Method {
	out := make([]Method, len(methods))
	for i, m := range methods {
		out[i] = m.name
	}
	return out
}

// AdvertisedMethods lists the methods discovery names.
func AdvertisedMethods() []string {
	var out []string
	for _, m := range methods {
		if m.advertised {
			out = append(out, string(m.name))
		}
	}
	return out
}

// AdvertisedSigningAlgorithms lists the algorithms the advertised methods
// sign with, each once.
func AdvertisedSigningAlgorithms() []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range methods {
		if !m.advertised || m.signingAlgs == nil {
			continue
		}
		for _, alg := range m.signingAlgs() {
			if !seen[alg] {
				seen[alg] = true
				out = append(out, alg)
			}
		}
	}
	return out
}
