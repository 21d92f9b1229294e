package tokenserver

import "github.com/signet-iam/signet/internal/tokenserver/clientauth"

// GrantClientCredentials is RFC 6749 4.4: the client authenticates with
// its secret (Basic or in the form) or with a client assertion, which may
// be a Federated client's workload token (RFC 7523 2.2).
const GrantClientCredentials = "client_credentials"

var clientCredentialsGrant = grantType{
	name: GrantClientCredentials, label: "client_credentials", credentials: clientauth.Extract,
	allows: func(m clientauth.Method) bool { return m != clientauth.MethodAPIKey && m != clientauth.MethodFederated },
}
