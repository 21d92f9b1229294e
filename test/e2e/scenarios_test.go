//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-iam/signet/internal/testutil"
)

const apiKeyGrant = "urn:signet:params:oauth:grant-type:apikey"

// introspector creates a ClientSecret credential in ns that APIs would use
// to call the introspection endpoint, and returns its workload Secret.
func introspector(t *testing.T, ns string) map[string]string {
	t.Helper()
	manifest := filepath.Join(t.TempDir(), "introspector.yaml")
	yaml := `apiVersion: iam.signet.dev/v1alpha1
kind: ServiceAccount
metadata: {name: orders-api}
spec: {description: "An API that introspects tokens"}
---
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: orders-api}
spec: {serviceAccountName: orders-api}
---
# Introspecting other clients' tokens needs an entitlement: here, those of
# this namespace.
apiVersion: iam.signet.dev/v1alpha1
kind: AccessRule
metadata: {name: orders-api-introspect}
spec:
  subjects: [{kind: ServiceAccount, name: orders-api}]
  scopes: ["signet:introspect"]
`
	if err := os.WriteFile(manifest, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-n", ns, "-f", manifest)
	creds := workloadSecret(t, ns, "orders-api", "client_secret")
	// The workload Secret is written before the record: wait until the token
	// server knows the caller.
	waitFor(t, 10*time.Second, "the introspecting client is known and entitled", func() error {
		if _, err := introspect(creds, "not-a-token"); err != nil {
			return err
		}
		if got := kubectl(t, "get", "serviceaccounts.iam.signet.dev", "orders-api", "-n", ns, "-o", "jsonpath={.status.scopes}"); !strings.Contains(got, "signet:introspect") {
			return fmt.Errorf("status.scopes is %q", got)
		}
		return nil
	})
	return creds
}

// within waits until check passes, failing after 10 s, and logs how long
// it took. The one-second target of the revocation and grant changes is
// measured by make chaos (docs/reliability.md), not asserted here, where a
// busy machine would make it flake.
func within(t *testing.T, what string, check func() error) {
	t.Helper()
	t.Logf("%s: took %v", what, waitFor(t, 10*time.Second, what, check))
}

func header(t *testing.T, raw string) map[string]any {
	t.Helper()
	part, _, _ := strings.Cut(raw, ".")
	data, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	h := map[string]any{}
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// Flexera One: an application's service account, a role grant, a client; the
// client gets a 3600 s Bearer token with the granted privileges.
func TestFlexeraGrantThenToken(t *testing.T) {
	ns := scenario(t, "flexera-application-client.yaml")
	creds := workloadSecret(t, ns, "cost-reporter", "client_secret")
	if creds["token_url"] != signet.Issuer+"/oauth2/token" || creds["issuer"] != signet.Issuer {
		t.Fatalf("workload Secret points at %q / %q", creds["token_url"], creds["issuer"])
	}
	var tok *oauth2.Token
	waitFor(t, 10*time.Second, "first token", func() (err error) { tok, err = tokenFor(creds); return err })
	if tok.TokenType != "Bearer" || time.Until(tok.Expiry) < 3590*time.Second {
		t.Errorf("token type %q expiring in %v, want Bearer for 3600 s", tok.TokenType, time.Until(tok.Expiry))
	}
	if typ := header(t, tok.AccessToken)["typ"]; typ != "at+jwt" {
		t.Errorf("typ = %v, want at+jwt", typ)
	}
	claims := verify(t, tok.AccessToken)
	if claims["scope"] != "costs:read org:read reports:write" || claims["sub"] != "signet:"+ns+":cost-reporter" || claims["client_id"] != creds["client_id"] {
		t.Errorf("claims %v", claims)
	}
	if aud := fmt.Sprint(claims["aud"]); !strings.Contains(aud, "https://api.example.com/optima") {
		t.Errorf("aud %s lacks the granted audience", aud)
	}

	narrow, err := tokenFor(creds, "org:read")
	if err != nil || verify(t, narrow.AccessToken)["scope"] != "org:read" {
		t.Errorf("narrowed scope: %v", err)
	}
	if err := refusedWith(func() error { _, err := tokenFor(creds, "admin:all"); return err }(), "invalid_scope"); err != nil {
		t.Error(err)
	}

	kubectl(t, "patch", "-n", ns, "accessrule", "cost-reporter-viewer", "--type=json",
		"-p", `[{"op":"add","path":"/spec/scopes/-","value":"budgets:read"}]`)
	within(t, "a new grant reaches new tokens", func() error {
		_, err := tokenFor(creds, "budgets:read")
		return err
	})
}

// Itential Cloud: disable and enable the account, regenerate the secret,
// delete the client: each takes effect for new requests and for tokens
// already issued.
func TestItentialDisableRegenerateDelete(t *testing.T) {
	ns := scenario(t, "itential-product-client.yaml")
	api := introspector(t, ns)
	creds := workloadSecret(t, ns, "automation-gateway-oauth", "client_secret")
	var first *oauth2.Token
	waitFor(t, 10*time.Second, "first token", func() (err error) { first, err = tokenFor(creds); return err })

	kubectl(t, "patch", "-n", ns, "serviceaccounts.iam.signet.dev", "automation-gateway", "--type=merge", "-p", `{"spec":{"disabled":true}}`)
	within(t, "disable refuses new tokens", func() error { _, err := tokenFor(creds); return refusedWith(err, "invalid_client") })
	within(t, "disable deactivates issued tokens", func() error { return inactive(api, first.AccessToken) })

	kubectl(t, "patch", "-n", ns, "serviceaccounts.iam.signet.dev", "automation-gateway", "--type=merge", "-p", `{"spec":{"disabled":false}}`)
	var second *oauth2.Token
	waitFor(t, 10*time.Second, "token after enabling", func() (err error) { second, err = tokenFor(creds); return err })
	if err := inactive(api, first.AccessToken); err != nil {
		t.Errorf("a token issued before the account was disabled came back: %v", err)
	}

	kubectl(t, "patch", "-n", ns, "clientcredential", "automation-gateway", "--type=merge", "-p", `{"spec":{"rotation":{"trigger":"regenerate-1"}}}`)
	within(t, "regenerate refuses the old secret", func() error { _, err := tokenFor(creds); return refusedWith(err, "invalid_client") })
	within(t, "regenerate deactivates tokens of the old secret", func() error { return inactive(api, second.AccessToken) })
	regenerated := workloadSecret(t, ns, "automation-gateway-oauth", "client_secret")
	waitFor(t, 10*time.Second, "the regenerated secret works", func() error {
		if regenerated["client_secret"] == creds["client_secret"] {
			regenerated = workloadSecret(t, ns, "automation-gateway-oauth", "client_secret")
			return fmt.Errorf("not regenerated yet")
		}
		_, err := tokenFor(regenerated)
		return err
	})
	third, err := tokenFor(regenerated)
	if err != nil {
		t.Fatal(err)
	}

	kubectl(t, "delete", "-n", ns, "clientcredential", "automation-gateway")
	within(t, "delete refuses the secret", func() error { _, err := tokenFor(regenerated); return refusedWith(err, "invalid_client") })
	within(t, "delete deactivates its tokens", func() error { return inactive(api, third.AccessToken) })
}

func inactive(caller map[string]string, token string) error {
	return inactiveAt(signet.Issuer, caller, token)
}

// Okta ASA: a service user's API key; expiring it stops every token
// generated from it at once.
func TestOktaExpireKeyNow(t *testing.T) {
	ns := scenario(t, "okta-service-user-apikey.yaml")
	api := introspector(t, ns)
	key := workloadSecret(t, ns, "jenkins-deployer-key", "api_key")["api_key"]
	var token string
	waitFor(t, 10*time.Second, "API key exchange", func() error {
		status, body, err := postForm(url.Values{"grant_type": {apiKeyGrant}, "apikey": {key}})
		if err != nil || status != 200 {
			return fmt.Errorf("HTTP %d %v %v", status, body, err)
		}
		token, _ = body["access_token"].(string)
		return nil
	})
	if active, err := introspect(api, token); err != nil || !active {
		t.Fatalf("a fresh token introspects as active=%v (%v)", active, err)
	}

	kubectl(t, "patch", "-n", ns, "clientcredential", "jenkins-deployer-key", "--type=merge", "-p", `{"spec":{"revoked":true}}`)
	within(t, "expiring the key deactivates its tokens", func() error { return inactive(api, token) })
	within(t, "expiring the key refuses it", func() error {
		status, _, err := postForm(url.Values{"grant_type": {apiKeyGrant}, "apikey": {key}})
		if err != nil || status == 200 {
			return fmt.Errorf("still accepted (HTTP %d, %v)", status, err)
		}
		return nil
	})
	if strings.Contains(kubectl(t, "get", "secret", "-n", ns, "jenkins-deployer-key", "-o", "json"), base64.StdEncoding.EncodeToString([]byte(key))) {
		t.Error("the revoked key is still in the workload Secret")
	}
}

// Dfns: an account registered with its own public key; the client proves
// itself with private_key_jwt and the private key never reaches the cluster.
func TestDfnsSuppliedPublicKey(t *testing.T) {
	ns := scenario(t, "dfns-public-key-account.yaml")
	data := workloadSecret(t, ns, "treasury-signer", "client_id")
	if _, ok := data["private_key.pem"]; ok {
		t.Fatal("Signet wrote a private key for a client that supplied its public key")
	}
	clientID := data["client_id"]
	assertion := clientAssertion(t, clientID)
	cfg := clientcredentials.Config{
		ClientID:  clientID,
		TokenURL:  data["token_url"],
		AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		},
	}
	var tok *oauth2.Token
	waitFor(t, 10*time.Second, "private_key_jwt token", func() (err error) {
		cfg.EndpointParams.Set("client_assertion", clientAssertion(t, clientID))
		tok, err = cfg.Token(t.Context())
		return err
	})
	claims := verify(t, tok.AccessToken)
	if claims["sub"] != "signet:"+ns+":treasury-signer" || claims["scope"] != "wallets:read wallets:sign" {
		t.Errorf("claims %v", claims)
	}
	// An assertion is single-use.
	cfg.EndpointParams.Set("client_assertion", assertion)
	if _, err := cfg.Token(t.Context()); err != nil {
		t.Fatalf("first use of a fresh assertion: %v", err)
	}
	if err := refusedWith(func() error { _, err := cfg.Token(t.Context()); return err }(), "invalid_client"); err != nil {
		t.Errorf("replayed assertion: %v", err)
	}
}

// IBM Cloud IAM: a service ID's API key exchanged at the token endpoint for
// a 3600 s access token, with IBM's "expiration" field.
func TestIBMAPIKeyExchange(t *testing.T) {
	ns := scenario(t, "ibm-service-id-apikey.yaml")
	key := workloadSecret(t, ns, "billing-exporter-apikey", "api_key")["api_key"]
	var body map[string]any
	waitFor(t, 10*time.Second, "IBM API-key exchange", func() error {
		status, b, err := postForm(url.Values{"grant_type": {"urn:ibm:params:oauth:grant-type:apikey"}, "apikey": {key}})
		if err != nil || status != 200 {
			return fmt.Errorf("HTTP %d %v %v", status, b, err)
		}
		body = b
		return nil
	})
	expiration, _ := body["expiration"].(float64)
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) ||
		time.Until(time.Unix(int64(expiration), 0)) < 3590*time.Second {
		t.Errorf("response %v", body)
	}
	if claims := verify(t, body["access_token"].(string)); claims["scope"] != "billing:read" {
		t.Errorf("claims %v", claims)
	}
	status, errBody, _ := postForm(url.Values{"grant_type": {apiKeyGrant}, "apikey": {testutil.Mistyped(key)}})
	if status == 200 || errBody["error"] == nil {
		t.Errorf("a mistyped key was accepted: HTTP %d %v", status, errBody)
	}
}
