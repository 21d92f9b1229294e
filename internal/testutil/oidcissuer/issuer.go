// Package oidcissuer is a small OIDC issuer for tests and local trials: it
// serves discovery and a JWKS over HTTP, signs tokens with whatever claims
// it is given, rotates its key on request and can be taken down, standing
// in for GitHub Actions, GitLab CI or another cluster.
package oidcissuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// Issuer is a running issuer. Its URL is its issuer identifier.
type Issuer struct {
	URL string

	server *httptest.Server
	mux    *http.ServeMux
	mu     sync.Mutex
	keys   []*ecdsa.PrivateKey // the newest signs; all are published
	down   atomic.Bool
	// JWKSFetches counts requests for the key set.
	JWKSFetches atomic.Int64
}

// Start starts an issuer on a loopback port. Close it when done.
func Start() (*Issuer, error) {
	is := &Issuer{}
	if err := is.Rotate(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", is.discovery)
	mux.HandleFunc("/keys", is.jwks)
	is.mux = mux
	is.server = httptest.NewServer(mux)
	is.URL = is.server.URL
	return is, nil
}

// ServeMinting adds GET /token, which signs a token for anyone who asks:
// sub and aud from the query, every other parameter as a string claim,
// issued now and valid for five minutes. It stands in for the CI system
// that hands a job its token, for local trials only.
func (is *Issuer) ServeMinting() {
	is.mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		claims := jwt.MapClaims{"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix()}
		for k, v := range r.URL.Query() {
			if k != "iat" && k != "nbf" && k != "exp" && k != "iss" {
				claims[k] = v[0]
			}
		}
		tok, err := is.Sign(claims)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(tok))
	})
}

// Close stops the issuer.
func (is *Issuer) Close() { is.server.Close() }

// SetDown makes the issuer answer every request with 503 (down = true),
// or serve again.
func (is *Issuer) SetDown(down bool) { is.down.Store(down) }

// Rotate adds a new signing key; the old ones stay published.
func (is *Issuer) Rotate() error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append(is.keys, k)
	return nil
}

// Sign signs claims (iss is filled in when absent) with the newest key.
func (is *Issuer) Sign(claims jwt.MapClaims) (string, error) { return is.SignWithKeyID(claims, "") }

// SignWithKeyID is Sign with the header's kid set to keyID (when not
// empty) instead of the newest key's, as a token naming a key the issuer
// never published would.
func (is *Issuer) SignWithKeyID(claims jwt.MapClaims, keyID string) (string, error) {
	is.mu.Lock()
	n := len(is.keys)
	k := is.keys[n-1]
	is.mu.Unlock()
	if _, ok := claims["iss"]; !ok {
		claims["iss"] = is.URL
	}
	if keyID == "" {
		keyID = kid(n - 1)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = keyID
	return tok.SignedString(k)
}

func kid(i int) string { return fmt.Sprintf("key-%d", i) }

func (is *Issuer) discovery(w http.ResponseWriter, _ *http.Request) {
	if is.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	writeJSON(w, map[string]any{
		"issuer": is.URL, "jwks_uri": is.URL + "/keys",
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
	})
}

func (is *Issuer) jwks(w http.ResponseWriter, _ *http.Request) {
	is.JWKSFetches.Add(1)
	if is.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	is.mu.Lock()
	set := jose.JSONWebKeySet{}
	for i, k := range is.keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: kid(i), Algorithm: "ES256", Use: "sig"})
	}
	is.mu.Unlock()
	writeJSON(w, set)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
