package tokenserver_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signet-iam/signet/internal/tokenserver"
)

// BenchmarkIntrospect is the introspection of an active ES256 token in
// process: verification plus the revocation and record checks.
func BenchmarkIntrospect(b *testing.B) {
	h := newHarness(b)
	token := h.tokenFor(h.secret)
	b.ReportAllocs()
	for b.Loop() {
		if !h.srv.Introspect(h.secret.Record, token).Active {
			b.Fatal("inactive")
		}
	}
}

// BenchmarkTokenEndpoint is one client_secret_basic token request through
// the handler, without the network: form parsing, authentication, audit
// line, signing (ES256) and the JSON response.
func BenchmarkTokenEndpoint(b *testing.B) {
	h := newHarness(b)
	handler := h.srv.AllHandler()
	body := form("grant_type", "client_credentials")
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, tokenserver.TokenPath, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(h.secret.ID(), h.secret.Secret)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}
