package tokenserver

import (
	"net/http"

	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/form"
)

// Grant types.
const (
	GrantClientCredentials = "client_credentials"
	// GrantAPIKey exchanges an API key, sent as the "apikey" parameter.
	GrantAPIKey = "urn:signet:params:oauth:grant-type:apikey"
	// GrantIBMAPIKey is IBM Cloud IAM's name for the same exchange, so
	// that clients written for it work unchanged.
	GrantIBMAPIKey = "urn:ibm:params:oauth:grant-type:apikey"
	// GrantTokenExchange is RFC 8693: a Federated client's workload token,
	// sent as subject_token, for an access token.
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// Token types of RFC 8693 3.
const (
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

// grantType is one grant type of the token endpoint: how a request of that
// type presents its credentials, which authentication methods it takes,
// and what it answers a failed authentication with. The table grantTypes is
// the one list: the endpoint dispatches on it and discovery is generated
// from it, so adding a grant is adding an entry (and the file beside it).
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
	{name: GrantClientCredentials, label: "client_credentials", credentials: clientauth.Extract,
		allows: func(m clientauth.Method) bool { return m != clientauth.MethodAPIKey && m != clientauth.MethodFederated }},
	{name: GrantAPIKey, label: "apikey", credentials: clientauth.Extract, allows: onlyMethod(clientauth.MethodAPIKey)},
	{name: GrantIBMAPIKey, label: "apikey", credentials: clientauth.Extract, allows: onlyMethod(clientauth.MethodAPIKey)},
	{name: GrantTokenExchange, label: "token_exchange", credentials: exchangeCredentials, allows: onlyMethod(clientauth.MethodFederated),
		failureCode: "invalid_grant", issuedTokenType: TokenTypeAccessToken},
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

// exchangeCredentials reads an RFC 8693 request: the subject_token is the
// only credential, and it must be a JWT. Signet issues access tokens only
// and does not take actor tokens (delegation).
func exchangeCredentials(h http.Header, f form.Values) (clientauth.Credentials, *clientauth.Failure) {
	c := clientauth.Credentials{Method: clientauth.MethodFederated, ClientID: f.Get("client_id"), Assertion: f.Get("subject_token")}
	bad := func(description string) (clientauth.Credentials, *clientauth.Failure) {
		return c, &clientauth.Failure{Code: clientauth.CodeInvalidRequest, Reason: clientauth.ReasonMalformed, Description: description}
	}
	switch {
	case len(h.Values("Authorization")) > 0 || f.Has("client_secret") || f.Has("client_assertion") || f.Has("apikey"):
		return bad("token exchange authenticates with the subject_token alone")
	case c.Assertion == "":
		return bad("subject_token is required")
	case f.Get("subject_token_type") != TokenTypeJWT:
		return bad("subject_token_type must be " + TokenTypeJWT)
	case f.Has("actor_token") || f.Has("actor_token_type"):
		return bad("actor_token is not supported")
	case f.Has("requested_token_type") && f.Get("requested_token_type") != TokenTypeAccessToken:
		return bad("requested_token_type must be " + TokenTypeAccessToken)
	}
	return c, nil
}
