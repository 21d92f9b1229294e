// Package clientauth authenticates OAuth2 clients against the credential
// records: client_secret_basic, client_secret_post, private_key_jwt
// (RFC 7523), Signet's API keys and Federated clients' workload tokens,
// each an entry of the table in methods.go. Each credential type may use
// only its own method (RFC 9700 2.3), and a request may use only one
// method.
package clientauth

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/tokenserver/form"
)

// Method is a client authentication method, named as in the OAuth 2.0
// Dynamic Client Registration registry.
type Method string

// The methods Signet accepts.
const (
	MethodBasic  Method = "client_secret_basic"
	MethodPost   Method = "client_secret_post"
	MethodJWT    Method = "private_key_jwt"
	MethodAPIKey Method = "apikey"
)

// AssertionType is the only client_assertion_type accepted (RFC 7523 2.2).
const AssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// maxBasicHeader bounds the Authorization header before it is decoded: a
// client_id and a secret, form-encoded and in base64, fit in far less.
const maxBasicHeader = 1024

// Credentials are what a request presented to authenticate. They hold a
// secret: never log or print them.
type Credentials struct {
	Method Method
	// ClientID is the client_id the request named, if any (the Basic user
	// name or the client_id parameter).
	ClientID string
	// Secret is the client secret or the API key.
	Secret string
	// Assertion is the client assertion of private_key_jwt.
	Assertion string
}

// AuditClientID is the client_id to write in an audit line or use as a
// rate-limit key: the one named, when it has the shape of a client_id. A
// client that put its secret in the client_id field must not find it in a
// log.
func (c Credentials) AuditClientID() string {
	if credential.ValidClientID(c.ClientID) {
		return c.ClientID
	}
	return ""
}

// Extract finds the one authentication method a request uses, trying the
// methods in the order of the table.
func Extract(h http.Header, f form.Values) (Credentials, *Failure) {
	if len(h.Values("Authorization")) > 1 {
		return Credentials{}, fail(CodeInvalidRequest, ReasonMalformed, "the Authorization header is repeated")
	}
	var (
		found []Credentials
		by    []*method
	)
	for i := range methods {
		m := &methods[i]
		if m.read == nil {
			continue
		}
		c, fl := m.read(h, f)
		if fl != nil {
			fl.Basic = m.challenge
			return Credentials{Method: m.name}, fl
		}
		if c != nil {
			found, by = append(found, *c), append(by, m)
		}
	}
	switch len(found) {
	case 0:
		return Credentials{ClientID: f.Get("client_id")}, fail(CodeInvalidClient, ReasonNoCredentials, "client authentication is required")
	case 1:
	default:
		return found[0], fail(CodeInvalidRequest, ReasonMultipleMethods, "the request uses more than one client authentication method")
	}
	if by[0].shape == nil {
		return found[0], nil
	}
	return found[0], by[0].shape(found[0], f)
}

func isBasic(v string) bool {
	scheme, _, _ := strings.Cut(v, " ")
	return strings.EqualFold(scheme, "Basic")
}

var errBasic = errors.New("malformed Basic credentials")

// ParseBasic decodes an Authorization header of the Basic scheme. The user
// name and password are form-urlencoded inside the base64 (RFC 6749
// 2.3.1), so they are decoded again. The error never includes the input.
func ParseBasic(v string) (clientID, secret string, err error) {
	if len(v) > maxBasicHeader {
		return "", "", errBasic
	}
	scheme, payload, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return "", "", errBasic
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(payload))
	if err != nil {
		return "", "", errBasic
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return "", "", errBasic
	}
	clientID, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil || clientID == "" {
		return "", "", errBasic
	}
	return clientID, secret, nil
}
