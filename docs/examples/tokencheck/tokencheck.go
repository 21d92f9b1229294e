// Package tokencheck is the example from docs/verifying-tokens.md: how an
// API checks the access tokens Signet issues, either locally against the
// JWKS (cheap, no call per request) or by asking the token server
// (introspection: sees revocations at once). It compiles in CI and the
// end-to-end tests run it against the real token server.
package tokencheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Claims are the RFC 9068 claims an API usually needs.
type Claims struct {
	Subject  string `json:"sub"`
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// HasScope reports whether the token grants scope.
func (c Claims) HasScope(scope string) bool {
	return slices.Contains(strings.Fields(c.Scope), scope)
}

// JWKSVerifier checks tokens locally: signature (keys from the JWKS found
// through discovery, cached and refreshed by go-oidc), issuer, expiry and
// audience.
type JWKSVerifier struct {
	verifier *oidc.IDTokenVerifier
}

// NewJWKSVerifier discovers the token server at issuer. audience is this
// API's identifier, as granted in AccessRules' spec.audiences.
func NewJWKSVerifier(ctx context.Context, issuer, audience string) (*JWKSVerifier, error) {
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		return nil, fmt.Errorf("discovering %s: %w", issuer, err)
	}
	return &JWKSVerifier{verifier: provider.Verifier(&oidc.Config{ClientID: audience})}, nil
}

// Verify checks a raw access token and returns its claims.
func (v *JWKSVerifier) Verify(ctx context.Context, raw string) (Claims, error) {
	tok, err := v.verifier.Verify(ctx, raw)
	if err != nil {
		return Claims{}, err
	}
	var c Claims
	err = tok.Claims(&c)
	return c, err
}

// Introspector asks the token server about each token (RFC 7662), as a
// Signet client of its own: a revoked token, a disabled account or a
// withdrawn grant shows as inactive at once.
type Introspector struct {
	URL                    string // the issuer followed by /oauth2/introspect
	ClientID, ClientSecret string // this API's own ClientCredential
	HTTP                   *http.Client
}

// ErrInactive is returned for a token the token server no longer honours.
var ErrInactive = errors.New("token is not active")

// Verify introspects a raw access token and returns its claims.
func (in *Introspector) Verify(ctx context.Context, raw string) (Claims, error) {
	form := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return Claims{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret))
	client := in.HTTP
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return Claims{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Claims{}, fmt.Errorf("introspection answered HTTP %d", resp.StatusCode)
	}
	var body struct {
		Active bool `json:"active"`
		Claims
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return Claims{}, err
	}
	if !body.Active {
		return Claims{}, ErrInactive
	}
	return body.Claims, nil
}

// Verifier is either way of checking a token.
type Verifier interface {
	Verify(ctx context.Context, raw string) (Claims, error)
}

// Require wraps an http.Handler: requests need a Bearer token that v accepts
// and that grants scope.
func Require(v Verifier, scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer`)
			http.Error(w, "missing bearer token", http.StatusUnauthorized)
			return
		}
		claims, err := v.Verify(r.Context(), raw)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "invalid token", http.StatusUnauthorized)
			return
		}
		if !claims.HasScope(scope) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, scope))
			http.Error(w, "insufficient scope", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
