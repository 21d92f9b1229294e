package tokenserver_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signet-iam/signet/internal/tokenserver"
	"github.com/signet-iam/signet/internal/tokenserver/ratelimit"
)

// BenchmarkIntrospect is the introspection of an active ES256 token in
// process, introspected before, as an API introspects the token of each
// call: the cached verification plus the revocation and record checks. A
// token's first introspection adds one verification
// (accesstoken.BenchmarkVerify).
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

// BenchmarkGuess is what one wrong guess costs the server once the failure
// limits refuse the guesser (the steady state of an online guessing attack,
// docs/security.md): parsing, the checksum, the lookup and the keyed hash of
// a well-formed wrong secret, the limiter's bookkeeping and the 429. Its
// audit lines are reported per guess: one per bucket per LogInterval.
func BenchmarkGuess(b *testing.B) {
	limits := ratelimit.DefaultConfig
	h := newHarness(b, func(c *tokenserver.Config) { c.Limits = &limits })
	handler := h.srv.AllHandler()
	body := form("grant_type", "client_credentials")
	wrong := wrongSecret(h)
	guesses, limited := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, tokenserver.TokenPath, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth(h.secret.ID(), wrong)
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		guesses++
		if w.Code == http.StatusTooManyRequests {
			limited++
		} else if w.Code != http.StatusUnauthorized {
			b.Fatal(w.Code)
		}
	}
	b.ReportMetric(float64(limited)/float64(guesses), "limited/guess")
	b.ReportMetric(float64(strings.Count(h.logs.String(), `"audit":"authentication"`))/float64(guesses), "audit-lines/guess")
}

// BenchmarkFederatedExchange is one RFC 8693 token exchange of a GitHub
// Actions-like workload token through the handler, with the issuer's keys
// cached: form parsing, the lookup by issuer and subject, the ES256
// verification of the workload token, the CEL claim rule, the audit line,
// signing the access token (ES256) and the JSON response. Run with
// -cpu 1 for exchanges per second per core (docs/benchmarks.md).
func BenchmarkFederatedExchange(b *testing.B) {
	f := newFederatedHarness(b, nil)
	handler := f.srv.AllHandler()
	body := exchangeForm(f.ciToken(nil))
	exchange := func() {
		r := httptest.NewRequest(http.MethodPost, tokenserver.TokenPath, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code, w.Body.String())
		}
	}
	exchange() // fetch and cache the issuer's keys
	b.ReportAllocs()
	for b.Loop() {
		exchange()
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
}
