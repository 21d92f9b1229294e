package tokenserver_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-iam/signet/internal/tokenserver"
)

// TestStockClients: Go's stock OAuth2 client gets tokens with both of its
// authentication styles, and go-oidc verifies them from discovery and the
// JWKS alone, as an API protected by Signet would.
func TestStockClients(t *testing.T) {
	var handler http.Handler
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	defer ts.Close()
	h := newHarness(t, func(c *tokenserver.Config) { c.Issuer = ts.URL })
	handler = h.srv.AllHandler()
	ctx := oidc.ClientContext(context.Background(), ts.Client())
	ctx = context.WithValue(ctx, oauth2.HTTPClient, ts.Client())

	provider, err := oidc.NewProvider(ctx, ts.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if provider.Endpoint().TokenURL != ts.URL+tokenserver.TokenPath {
		t.Errorf("discovered token endpoint %q", provider.Endpoint().TokenURL)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: apiAudience})

	for name, style := range map[string]oauth2.AuthStyle{"client_secret_basic": oauth2.AuthStyleInHeader, "client_secret_post": oauth2.AuthStyleInParams} {
		t.Run(name, func(t *testing.T) {
			cc := clientcredentials.Config{
				ClientID: h.secret.ID(), ClientSecret: h.secret.Secret,
				TokenURL: provider.Endpoint().TokenURL, Scopes: []string{"orders:read"}, AuthStyle: style,
			}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("getting a token: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
				t.Errorf("token type %q, expiry %v", tok.TokenType, tok.Expiry)
			}
			idt, err := verifier.Verify(ctx, tok.AccessToken)
			if err != nil {
				t.Fatalf("go-oidc refused the token: %v", err)
			}
			var claims struct {
				ClientID string `json:"client_id"`
				Scope    string `json:"scope"`
			}
			if err := idt.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if idt.Subject != h.secret.Record.Subject || claims.ClientID != h.secret.ID() || claims.Scope != "orders:read" ||
				!slices.Contains(idt.Audience, apiAudience) {
				t.Errorf("verified claims: sub %q aud %v %+v", idt.Subject, idt.Audience, claims)
			}
		})
	}

	t.Run("a wrong secret is an oauth2.RetrieveError with invalid_client", func(t *testing.T) {
		cc := clientcredentials.Config{ClientID: h.secret.ID(), ClientSecret: wrongSecret(h), TokenURL: provider.Endpoint().TokenURL}
		_, err := cc.Token(ctx)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("RFC 8414 metadata lists the API-key grant", func(t *testing.T) {
		resp, err := ts.Client().Get(ts.URL + tokenserver.OAuthMetaPath)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var meta struct {
			Grants  []string `json:"grant_types_supported"`
			Methods []string `json:"token_endpoint_auth_methods_supported"`
			Intro   string   `json:"introspection_endpoint"`
			Revoke  string   `json:"revocation_endpoint"`
		}
		if err := jsonDecode(resp, &meta); err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(meta.Grants, tokenserver.GrantAPIKey) || !slices.Contains(meta.Methods, "private_key_jwt") ||
			meta.Intro != ts.URL+tokenserver.IntrospectPath || meta.Revoke != ts.URL+tokenserver.RevokePath {
			t.Errorf("metadata %+v", meta)
		}
	})
}
