package tokenserver_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/index"
	"github.com/signet-iam/signet/internal/tokenserver/kube"
	"github.com/signet-iam/signet/internal/tokenserver/ratelimit"
)

const (
	testIssuer    = "https://signet.example.test"
	testNamespace = "signet-system"
	tokenURL      = testIssuer + tokenserver.TokenPath
	apiAudience   = "https://orders.example.test"
)

// harness is one token server over an index filled from a fixture, with a
// fake API server behind its ledger. It records every log line and every
// response body, so tests can look for leaked secrets.
type harness struct {
	t      testing.TB
	fx     *fixture.Fixture
	idx    *index.Index
	srv    *tokenserver.Server
	kube   *fake.Clientset
	logs   *fixture.Buffer
	bodies *fixture.Buffer

	secret, apiKey, jwtClient *fixture.Client
}

type connectedSource struct{}

func (connectedSource) Synced() bool { return true }
func (connectedSource) Connection() (bool, time.Time, time.Time) {
	return true, time.Now(), time.Now()
}

// newHarness builds a harness; edits change the server's configuration.
func newHarness(t testing.TB, edits ...func(*tokenserver.Config)) *harness {
	t.Helper()
	fx, err := fixture.New(testNamespace, signing.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, fx: fx, idx: index.New(), kube: fake.NewClientset(), logs: &fixture.Buffer{}, bodies: &fixture.Buffer{}}
	for _, get := range []func() (*corev1.Secret, error){fx.SigningKeysSecret, fx.HashKeySecret} {
		s, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if err := h.idx.ApplySecret(s); err != nil {
			t.Fatal(err)
		}
	}
	h.secret = h.client(record.TypeClientSecret, "billing", []string{"orders:read", "orders:write"}, []string{apiAudience})
	// The API-key client may introspect its namespace's tokens, so that
	// tests of inactive tokens ask a caller who would see them active.
	h.apiKey = h.client(record.TypeAPIKey, "exporter", []string{"orders:read", tokenserver.IntrospectScope}, nil)
	h.jwtClient = h.client(record.TypePrivateKeyJWT, "signer", []string{"orders:read"}, nil)
	cfg := tokenserver.Config{
		Issuer: testIssuer, Index: h.idx, Source: connectedSource{},
		Ledger: &kube.Ledger{Client: h.kube, Namespace: testNamespace},
		Log:    slog.New(slog.NewJSONHandler(h.logs, nil)),
		// Most tests fail on purpose many times from one address.
		Limits: &ratelimit.Config{SourceBurst: 1 << 20, SourceRate: 1 << 20, ClientBurst: 1 << 20, ClientRate: 1 << 20, MaxKeys: 100},
	}
	for _, edit := range edits {
		edit(&cfg)
	}
	h.srv, err = tokenserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) client(typ, name string, scopes, audiences []string) *fixture.Client {
	h.t.Helper()
	c, err := h.fx.NewClient(typ, name, scopes, audiences)
	if err != nil {
		h.t.Fatal(err)
	}
	h.put(c)
	return c
}

// put (re)indexes a client's record, as an informer event would.
func (h *harness) put(c *fixture.Client) {
	h.t.Helper()
	s, err := h.fx.RecordSecret(c)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.idx.ApplySecret(s); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) remove(c *fixture.Client) {
	s, _ := h.fx.RecordSecret(c)
	h.idx.DeleteSecret(s)
}

// request is one HTTP request to the server's handler.
type request struct {
	method, path, query, contentType string
	body                             string
	basic                            []string // client_id, secret
	remote                           string
}

type response struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

func (r response) errorCode() string { s, _ := r.json["error"].(string); return s }

func (h *harness) do(req request) response {
	h.t.Helper()
	if req.method == "" {
		req.method = http.MethodPost
	}
	if req.path == "" {
		req.path = tokenserver.TokenPath
	}
	target := req.path
	if req.query != "" {
		target += "?" + req.query
	}
	r := httptest.NewRequest(req.method, target, strings.NewReader(req.body))
	if req.contentType == "" {
		req.contentType = "application/x-www-form-urlencoded"
	}
	r.Header.Set("Content-Type", req.contentType)
	if req.basic != nil {
		r.SetBasicAuth(url.QueryEscape(req.basic[0]), url.QueryEscape(req.basic[1]))
	}
	if req.remote != "" {
		r.RemoteAddr = req.remote
	}
	w := httptest.NewRecorder()
	h.srv.AllHandler().ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	_, _ = h.bodies.Write(body)
	resp := response{status: w.Code, header: w.Result().Header, body: body}
	_ = json.Unmarshal(body, &resp.json)
	return resp
}

// form encodes pairs, keeping repeats and order.
func form(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(pairs[i]) + "=" + url.QueryEscape(pairs[i+1]))
	}
	return b.String()
}

// tokenFor gets a token with client_secret_basic, failing the test otherwise.
func (h *harness) tokenFor(c *fixture.Client, extra ...string) string {
	h.t.Helper()
	resp := h.do(request{body: form(append([]string{"grant_type", "client_credentials"}, extra...)...), basic: []string{c.ID(), c.Secret}})
	if resp.status != http.StatusOK {
		h.t.Fatalf("getting a token: %d %s", resp.status, resp.body)
	}
	return resp.json["access_token"].(string)
}

// introspect asks, as the secret client, about a token.
func (h *harness) introspect(token string) map[string]any {
	h.t.Helper()
	resp := h.do(request{path: tokenserver.IntrospectPath, body: form("token", token), basic: []string{h.secret.ID(), h.secret.Secret}})
	if resp.status != http.StatusOK {
		h.t.Fatalf("introspecting: %d %s", resp.status, resp.body)
	}
	return resp.json
}

// assertion signs a client assertion for c that passes every check, after
// edit changed its claims or header.
func (h *harness) assertion(c *fixture.Client, edit func(claims jwt.MapClaims, header map[string]any)) string {
	h.t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": c.ID(), "sub": c.ID(), "aud": testIssuer,
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(), "jti": randomID(),
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(c.Algorithm), claims)
	tok.Header["kid"] = c.KeyID
	if edit != nil {
		edit(claims, tok.Header)
	}
	s, err := tok.SignedString(c.PrivateKey)
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

func jwtForm(assertion string, extra ...string) string {
	return form(append([]string{"grant_type", "client_credentials",
		"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
		"client_assertion", assertion}, extra...)...)
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
