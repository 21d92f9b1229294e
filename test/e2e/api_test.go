//go:build e2e

package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signet-iam/signet/docs/examples/tokencheck"
)

// TestAnAPIChecksTokens runs the example from docs/verifying-tokens.md: an
// API accepts tokens through the JWKS and through introspection, enforces a
// scope, and, after the client revokes its token (RFC 7009), only the
// introspecting API notices at once.
func TestAnAPIChecksTokens(t *testing.T) {
	ns := scenario(t, "flexera-application-client.yaml")
	api := introspector(t, ns)
	creds := workloadSecret(t, ns, "cost-reporter", "client_secret")
	tok, err := tokenFor(creds)
	for start := time.Now(); err != nil && time.Since(start) < 10*time.Second; tok, err = tokenFor(creds) {
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	jwks, err := tokencheck.NewJWKSVerifier(ctx, signet.Issuer, "https://api.example.com/optima")
	if err != nil {
		t.Fatal(err)
	}
	intro := &tokencheck.Introspector{URL: signet.Issuer + "/oauth2/introspect", ClientID: api["client_id"], ClientSecret: api["client_secret"]}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })

	call := func(v tokencheck.Verifier, scope, token string) int {
		srv := httptest.NewServer(tokencheck.Require(v, scope, ok))
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for name, v := range map[string]tokencheck.Verifier{"JWKS": jwks, "introspection": intro} {
		if got := call(v, "costs:read", tok.AccessToken); got != http.StatusNoContent {
			t.Errorf("%s: a valid token was refused: HTTP %d", name, got)
		}
		if got := call(v, "admin:write", tok.AccessToken); got != http.StatusForbidden {
			t.Errorf("%s: a missing scope gave HTTP %d, want 403", name, got)
		}
		if got := call(v, "costs:read", tok.AccessToken[:len(tok.AccessToken)-4]+"AAAA"); got != http.StatusUnauthorized {
			t.Errorf("%s: a forged signature gave HTTP %d, want 401", name, got)
		}
	}
	other, err := tokencheck.NewJWKSVerifier(ctx, signet.Issuer, "https://another-api.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if got := call(other, "costs:read", tok.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("a token for another audience gave HTTP %d, want 401", got)
	}

	form := url.Values{"token": {tok.AccessToken}, "token_type_hint": {"access_token"}}
	req, _ := http.NewRequest(http.MethodPost, signet.Issuer+"/oauth2/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(creds["client_id"], creds["client_secret"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revocation: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := call(intro, "costs:read", tok.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("introspection still accepts a revoked token: HTTP %d", got)
	}
	if got := call(jwks, "costs:read", tok.AccessToken); got != http.StatusNoContent {
		t.Errorf("JWKS verification is local and accepts a revoked token until it expires; got HTTP %d", got)
	}
}
