package main

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
)

// TestNothingSecretLeaks is SECURITY.md item 19: after successful and
// failed requests of every kind, nothing the server logged (audit lines and
// client-go's lines included, which run passes the same logger), no response body and no metric holds a
// secret, an API key, a stored hash, a hash key or a private key; and the
// logs hold no assertion and no access token either.
func TestNothingSecretLeaks(t *testing.T) {
	ns, fx := namespace(t, cs)
	secretClient := newClient(t, fx, record.TypeClientSecret, "leaky")
	other := newClient(t, fx, record.TypeClientSecret, "other")
	keyClient := newClient(t, fx, record.TypeAPIKey, "keyed")
	jwtClient := newClient(t, fx, record.TypePrivateKeyJWT, "signed")
	in := start(t, env.Config, ns, nil)

	var bodies strings.Builder
	var logOnly []string // assertions and tokens: fine in a response, never in a log
	send := func(path string, form url.Values, basic ...string) reply {
		r := post(t, in.url+path, form, basic...)
		bodies.WriteString(r.body)
		return r
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	tok := send("/oauth2/token", cc, secretClient.ID(), secretClient.Secret)
	if tok.status != http.StatusOK {
		t.Fatalf("token: %d %s", tok.status, tok.body)
	}
	token := tok.json["access_token"].(string)
	logOnly = append(logOnly, token)
	send("/oauth2/token", cc, secretClient.ID(), other.Secret)
	send("/oauth2/token", cc, secretClient.Secret, secretClient.Secret) // the secret pasted as client_id
	send("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {secretClient.ID()}, "client_secret": {other.Secret}})
	send("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {other.Secret}, "client_secret": {secretClient.Secret}})
	send("/oauth2/token", url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:apikey"}, "apikey": {keyClient.Secret}})
	send("/oauth2/token", url.Values{"grant_type": {"urn:signet:params:oauth:grant-type:apikey"}, "apikey": {keyClient.Secret + "x"}})
	send("/oauth2/token", url.Values{"grant_type": {keyClient.Secret}, "apikey": {keyClient.Secret}})
	assertion := signAssertion(t, jwtClient)
	logOnly = append(logOnly, assertion)
	jwtForm := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {assertion},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
	for range 2 { // the second is a replay
		if r := send("/oauth2/token", jwtForm); r.json["access_token"] != nil {
			logOnly = append(logOnly, r.json["access_token"].(string))
		}
	}
	send("/oauth2/introspect", url.Values{"token": {token}}, other.ID(), other.Secret)
	send("/oauth2/introspect", url.Values{"token": {token}}, other.ID(), secretClient.Secret)
	send("/oauth2/revoke", url.Values{"token": {token}}, other.ID(), other.Secret)
	send("/oauth2/revoke", url.Values{"token": {token}}, secretClient.ID(), secretClient.Secret)
	for _, p := range []string{"/metrics", "/readyz?verbose"} {
		bodies.WriteString(get(t, in.probeURL+p))
	}
	for _, p := range []string{"/.well-known/openid-configuration", "/oauth2/jwks"} {
		bodies.WriteString(get(t, in.url+p))
	}
	in.stop()

	logs := in.logs.String()
	if !strings.Contains(logs, `"audit":"authentication"`) || strings.Count(logs, `"audit":"authentication"`) < 14 {
		t.Fatalf("expected an audit line per request; logs:\n%s", logs)
	}
	needles := secretNeedles(t, fx, secretClient, other, keyClient, jwtClient)
	// The capture works: the token is in the responses it was sent in.
	if len(needles) < 12 || !strings.Contains(bodies.String(), token) {
		t.Fatalf("the capture or the needles are broken: %d needles", len(needles))
	}
	for what, needle := range needles {
		if strings.Contains(logs, needle) {
			t.Errorf("the logs hold %s", what)
		}
		if strings.Contains(bodies.String(), needle) {
			t.Errorf("a response or the metrics hold %s", what)
		}
	}
	for i, needle := range logOnly {
		if strings.Contains(logs, needle) || strings.Contains(logs, strings.Split(needle, ".")[2]) {
			t.Errorf("the logs hold assertion or token %d", i)
		}
	}
}

// secretNeedles lists every secret value of a fixture, by what it is.
func secretNeedles(t *testing.T, fx *fixture.Fixture, clients ...*fixture.Client) map[string]string {
	t.Helper()
	n := map[string]string{}
	for _, c := range clients {
		if c.Secret != "" {
			n["the secret of "+c.Record.ServiceAccount] = c.Secret
		}
		for i, h := range c.Record.Secrets {
			n["a stored hash of "+c.Record.ServiceAccount] = h.Hash
			n["the MAC of a stored hash of "+c.Record.ServiceAccount+string(rune('0'+i))] = h.Hash[strings.LastIndex(h.Hash, "$")+1:]
		}
		if c.PrivateKey != nil {
			der, err := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
			if err != nil {
				t.Fatal(err)
			}
			n["the private key of "+c.Record.ServiceAccount] = base64.StdEncoding.EncodeToString(der)[40:100]
		}
	}
	for _, k := range fx.Keyring.Keys {
		raw, _ := json.Marshal(k.Key)
		n["hash key "+k.ID] = strings.Trim(string(raw), `"`)
		n["hash key "+k.ID+" in base64url"] = base64.RawURLEncoding.EncodeToString(k.Key)
	}
	for _, k := range fx.Keys.Keys {
		lines := strings.Split(k.PrivateKeyPEM, "\n")
		n["signing key "+k.ID] = lines[1]
	}
	return n
}
