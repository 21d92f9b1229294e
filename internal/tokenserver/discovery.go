package tokenserver

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
)

func (s *Server) discoveryDocument() ([]byte, error) {
	// Every endpoint that authenticates clients takes the same methods:
	// the ones of clientauth's table that have a registered name.
	methods, algs := clientauth.AdvertisedMethods(), clientauth.AdvertisedSigningAlgorithms()
	return json.Marshal(map[string]any{
		"issuer":                                s.cfg.Issuer,
		"token_endpoint":                        s.url(TokenPath),
		"jwks_uri":                              s.url(JWKSPath),
		"introspection_endpoint":                s.url(IntrospectPath),
		"revocation_endpoint":                   s.url(RevokePath),
		"grant_types_supported":                 grantNames(),
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
		"scopes_supported":                      []string{},
		"token_endpoint_auth_methods_supported": methods,
		"token_endpoint_auth_signing_alg_values_supported":         algs,
		"introspection_endpoint_auth_methods_supported":            methods,
		"introspection_endpoint_auth_signing_alg_values_supported": algs,
		"revocation_endpoint_auth_methods_supported":               methods,
		"revocation_endpoint_auth_signing_alg_values_supported":    algs,
		// go-oidc and other verifiers read this to learn which algorithms
		// to accept for tokens this issuer signs.
		"id_token_signing_alg_values_supported": signing.Algorithms,
	})
}

func (s *Server) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(s.discovery)
}

// jwks serves every key that may still verify a live token: the published
// keys, including retired ones until their last token expired.
func (s *Server) jwks(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	keys := s.cfg.Index.Keys()
	if keys == nil {
		http.Error(w, "no signing keys loaded yet", http.StatusServiceUnavailable)
		return
	}
	body, err := keys.JWKS(s.cfg.Now())
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	// Short enough that a verifier picks up a new key well within the
	// publish lead, long enough to spare the server.
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(body)
}

// readyz fails until the index was read once and holds a key that signs
// now and a hash key. Losing the API server afterwards does not fail it: the
// server keeps answering from its index, and ?verbose says so.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now()
	connected, since, last := s.cfg.Source.Connection()
	checks := []struct {
		name, detail string
		ok           bool
	}{
		{"index-synced", "", s.cfg.Source.Synced()},
		{"signing-key", "", s.signingKey(now) != nil},
		{"hash-key", "", s.cfg.Index.Hasher() != nil},
		{"apiserver", apiserverDetail(connected, since, last), true},
	}
	ready := true
	var b strings.Builder
	for _, c := range checks {
		mark, state := "[+]", "ok"
		if !c.ok {
			mark, state, ready = "[-]", "failed", false
		}
		b.WriteString(mark + c.name + " " + state)
		if c.detail != "" {
			b.WriteString(" (" + c.detail + ")")
		}
		b.WriteString("\n")
	}
	status := http.StatusOK
	verdict := "readyz check passed"
	if !ready {
		status, verdict = http.StatusServiceUnavailable, "readyz check failed"
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		_, _ = w.Write([]byte(b.String() + verdict + "\n"))
		return
	}
	if ready {
		_, _ = w.Write([]byte("ok"))
	} else {
		_, _ = w.Write([]byte(verdict))
	}
}

func apiserverDetail(connected bool, since, last time.Time) string {
	switch {
	case connected:
		return "connected"
	case last.IsZero():
		return "never reached"
	}
	return "unreachable since " + since.UTC().Format(time.RFC3339) + "; serving from the cached index, last contact " + last.UTC().Format(time.RFC3339)
}
