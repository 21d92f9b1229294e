package tokenserver

import (
	"net/http"

	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/form"
)

// GrantTokenExchange is RFC 8693: a Federated client's workload token,
// sent as subject_token, for an access token.
const GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"

// Token types of RFC 8693 3.
const (
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
)

var tokenExchangeGrant = grantType{
	name: GrantTokenExchange, label: "token_exchange", credentials: exchangeCredentials,
	allows:      onlyMethod(clientauth.MethodFederated),
	failureCode: "invalid_grant", issuedTokenType: TokenTypeAccessToken,
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
