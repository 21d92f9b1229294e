package tokenserver

import (
	"net/http"

	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/form"
)

// grantType is one grant type of the token endpoint: how a request of that
// type presents its credentials, which authentication methods it takes,
// and what it answers a failed authentication with. The table grantTypes is
// the one list: the endpoint dispatches on it and discovery is generated
// from it, so adding a grant is adding a file grant_<name>.go with its
// entry, and the entry to the table.
type grantType struct {
	name string
	// label is the grant's name in metrics.
	label string
	// credentials reads the credentials the request presents.
	credentials func(http.Header, form.Values) (clientauth.Credentials, *clientauth.Failure)
	// allows says which methods may authenticate the grant.
	allows func(clientauth.Method) bool
	// failureCode, when set, replaces invalid_client in a failed
	// authentication (RFC 8693 2.2.2: a bad subject_token is invalid_grant).
	failureCode string
	// issuedTokenType is RFC 8693's issued_token_type of the response.
	issuedTokenType string
}

var grantTypes = []grantType{
	clientCredentialsGrant,
	apiKeyGrant(GrantAPIKey),
	apiKeyGrant(GrantIBMAPIKey),
	tokenExchangeGrant,
}

func onlyMethod(want clientauth.Method) func(clientauth.Method) bool {
	return func(m clientauth.Method) bool { return m == want }
}

// findGrant returns the grant type named g, or nil.
func findGrant(g string) *grantType {
	for i := range grantTypes {
		if grantTypes[i].name == g {
			return &grantTypes[i]
		}
	}
	return nil
}

func supportedGrant(g string) bool { return findGrant(g) != nil }

func grantNames() []string {
	out := make([]string, len(grantTypes))
	for i, g := range grantTypes {
		out[i] = g.name
	}
	return out
}
