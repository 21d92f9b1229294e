package tokenserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver"
)

// TestRetiredKeysVerifyUntilTheirTokensExpire is SECURITY.md item 15: after
// a rotation, new tokens carry the new kid, the retired key stays in the
// JWKS and its tokens stay active, until the key's verification window ends.
func TestRetiredKeysVerifyUntilTheirTokensExpire(t *testing.T) {
	h := newHarness(t)
	old := h.fx.Keys.Keys[0]
	oldToken := h.tokenFor(h.secret)

	now := time.Now()
	next, err := signing.NewKey(signing.EdDSA, now.Add(-time.Second), now.Add(-time.Second))
	if err != nil {
		t.Fatal(err)
	}
	signUntil, verifyUntil := now.Add(-time.Second), now.Add(time.Hour)
	old.SignUntil, old.VerifyUntil = &signUntil, &verifyUntil
	h.fx.Keys.Keys = append(h.fx.Keys.Keys, next)
	h.putKeys()

	if kid := decodeSegment(t, h.tokenFor(h.secret), 0)["kid"]; kid != next.ID {
		t.Errorf("new tokens are signed by %v, want the new key %s", kid, next.ID)
	}
	if kids := jwksKids(t, h); !strings.Contains(kids, old.ID) || !strings.Contains(kids, next.ID) {
		t.Errorf("JWKS kids %s, want both keys", kids)
	}
	if h.introspect(oldToken)["active"] != true {
		t.Error("a token of the retired key is inactive while the key may still verify")
	}

	ended := now.Add(-time.Millisecond)
	old.VerifyUntil = &ended
	h.putKeys()
	if kids := jwksKids(t, h); strings.Contains(kids, old.ID) {
		t.Errorf("JWKS still publishes the key after its window: %s", kids)
	}
	if h.introspect(oldToken)["active"] != false {
		t.Error("a token of a key no longer published is active")
	}
}

func (h *harness) putKeys() {
	h.t.Helper()
	s, err := h.fx.SigningKeysSecret()
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.idx.ApplySecret(s); err != nil {
		h.t.Fatal(err)
	}
}

func jwksKids(t *testing.T, h *harness) string {
	t.Helper()
	w := httptest.NewRecorder()
	h.srv.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, tokenserver.JWKSPath, nil))
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	var kids []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatal("the JWKS publishes a private key")
		}
		kids = append(kids, k.Kid+"/"+k.Alg)
	}
	return strings.Join(kids, ",")
}

func TestMetrics(t *testing.T) {
	h := newHarness(t)
	h.tokenFor(h.secret)
	h.do(request{body: form("grant_type", ccGrant), basic: []string{h.secret.ID(), wrongSecret(h)}})
	w := httptest.NewRecorder()
	h.srv.ProbeHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(w.Body)
	for _, want := range []string{
		`signet_token_server_tokens_issued_total{grant="client_credentials"} 1`,
		`signet_token_server_failures_total{endpoint="token",reason="wrong_secret"} 1`,
		`signet_token_server_request_duration_seconds_count{code="200",endpoint="token"} 1`,
		`signet_token_server_index_records 4`,
		`signet_token_server_apiserver_connected 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(string(body), h.secret.ID()) {
		t.Error("a client_id became a metric label")
	}
}
