package tokenserver

import "github.com/signet-iam/signet/internal/tokenserver/clientauth"

const (
	// GrantAPIKey exchanges an API key, sent as the "apikey" parameter.
	GrantAPIKey = "urn:signet:params:oauth:grant-type:apikey"
	// GrantIBMAPIKey is IBM Cloud IAM's name for the same exchange, so
	// that clients written for it work unchanged.
	GrantIBMAPIKey = "urn:ibm:params:oauth:grant-type:apikey"
)

// apiKeyGrant is the API-key exchange under one of its names: the API key
// is the only credential it takes.
func apiKeyGrant(name string) grantType {
	return grantType{name: name, label: "apikey", credentials: clientauth.Extract, allows: onlyMethod(clientauth.MethodAPIKey)}
}
