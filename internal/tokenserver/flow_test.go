package tokenserver_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver"
	"github.com/signet-iam/signet/internal/tokenserver/accesstoken"
	"github.com/signet-iam/signet/internal/tokenserver/kube"
	"github.com/signet-iam/signet/internal/tokenserver/ratelimit"
)

func decodeSegment(t *testing.T, token string, i int) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTokenResponseAndClaims(t *testing.T) {
	h := newHarness(t)
	before := time.Now()
	resp := h.do(basicToken(h))
	if resp.status != http.StatusOK {
		t.Fatalf("got %d %s", resp.status, resp.body)
	}
	if resp.header.Get("Cache-Control") != "no-store" || resp.header.Get("Pragma") != "no-cache" {
		t.Errorf("token response lacks no-store headers: %v", resp.header)
	}
	if resp.json["token_type"] != "Bearer" || resp.json["scope"] != "orders:read orders:write" {
		t.Errorf("response: %s", resp.body)
	}
	expiresIn, expiration := resp.json["expires_in"].(float64), resp.json["expiration"].(float64)
	if expiresIn < 3590 || expiresIn > 3600 || int64(expiration) < before.Unix()+3590 {
		t.Errorf("expires_in %v, expiration %v", expiresIn, expiration)
	}
	token := resp.json["access_token"].(string)
	hdr, claims := decodeSegment(t, token, 0), decodeSegment(t, token, 1)
	key := h.fx.Keys.Keys[0]
	if hdr["typ"] != "at+jwt" || hdr["kid"] != key.ID || hdr["alg"] != "ES256" {
		t.Errorf("header %v", hdr)
	}
	for _, c := range []string{"iss", "sub", "aud", "exp", "iat", "jti", "client_id", "scope"} {
		if _, ok := claims[c]; !ok {
			t.Errorf("claim %s missing from %v", c, claims)
		}
	}
	if claims["sub"] != h.secret.Record.Subject || claims["client_id"] != h.secret.ID() || claims["iss"] != testIssuer {
		t.Errorf("claims %v", claims)
	}
	issued, ok := accesstoken.IssuedAt(claims["jti"].(string))
	if !ok || issued.Before(before.Truncate(time.Millisecond)) || issued.After(time.Now()) {
		t.Errorf("jti %v does not encode the issue instant (%v)", claims["jti"], issued)
	}
}

func TestScopeNarrowingAndAudiences(t *testing.T) {
	h := newHarness(t)
	cases := map[string]struct {
		extra     []string
		wantScope string
		wantAud   []any
	}{
		"no scope asked for gives every granted scope":    {nil, "orders:read orders:write", []any{apiAudience}},
		"an empty scope counts as absent":                 {[]string{"scope", ""}, "orders:read orders:write", []any{apiAudience}},
		"a subset of the grants narrows the token":        {[]string{"scope", "orders:read"}, "orders:read", []any{apiAudience}},
		"a granted resource is the audience":              {[]string{"resource", apiAudience}, "orders:read orders:write", []any{apiAudience}},
		"resource may repeat and repeats collapse":        {[]string{"resource", apiAudience, "resource", apiAudience}, "orders:read orders:write", []any{apiAudience}},
		"a granted audience parameter is the audience":    {[]string{"audience", apiAudience}, "orders:read orders:write", []any{apiAudience}},
		"unknown parameters are ignored":                  {[]string{"foo", "bar"}, "orders:read orders:write", []any{apiAudience}},
		"an empty resource counts as absent":              {[]string{"resource", ""}, "orders:read orders:write", []any{apiAudience}},
		"scopes asked for twice in one value are merged":  {[]string{"scope", "orders:read orders:read"}, "orders:read", []any{apiAudience}},
		"scope order in the request does not matter here": {[]string{"scope", "orders:write orders:read"}, "orders:read orders:write", []any{apiAudience}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			claims := decodeSegment(t, h.tokenFor(h.secret, tc.extra...), 1)
			if claims["scope"] != tc.wantScope {
				t.Errorf("scope %q, want %q", claims["scope"], tc.wantScope)
			}
			if got, _ := json.Marshal(claims["aud"]); string(got) != mustJSON(tc.wantAud) {
				t.Errorf("aud %s, want %s", got, mustJSON(tc.wantAud))
			}
		})
	}
	t.Run("a client without audiences gets the default audience", func(t *testing.T) {
		resp := h.do(request{body: form("grant_type", tokenserver.GrantAPIKey, "apikey", h.apiKey.Secret)})
		claims := decodeSegment(t, resp.json["access_token"].(string), 1)
		if got, _ := json.Marshal(claims["aud"]); string(got) != mustJSON([]string{testIssuer}) {
			t.Errorf("aud %s", got)
		}
	})
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestEveryMethodGetsATokenForItsType(t *testing.T) {
	h := newHarness(t)
	cases := map[string]func() request{
		"client_secret_basic": func() request { return basicToken(h) },
		"client_secret_post": func() request {
			return request{body: form("grant_type", ccGrant, "client_id", h.secret.ID(), "client_secret", h.secret.Secret)}
		},
		"the Signet API-key grant": func() request {
			return request{body: form("grant_type", tokenserver.GrantAPIKey, "apikey", h.apiKey.Secret)}
		},
		"IBM's API-key grant": func() request {
			return request{body: form("grant_type", tokenserver.GrantIBMAPIKey, "apikey", h.apiKey.Secret)}
		},
		"private_key_jwt": func() request { return request{body: jwtForm(h.assertion(h.jwtClient, nil))} },
		"private_key_jwt with client_id": func() request {
			return request{body: jwtForm(h.assertion(h.jwtClient, nil), "client_id", h.jwtClient.ID())}
		},
		"private_key_jwt with aud as a one-element array": func() request {
			return request{body: jwtForm(h.assertion(h.jwtClient, func(c jwt.MapClaims, _ map[string]any) { c["aud"] = []string{testIssuer} }))}
		},
		"private_key_jwt with an EdDSA key": func() request {
			if err := h.fx.AddKey(h.jwtClient, signing.EdDSA, nil); err != nil {
				t.Fatal(err)
			}
			h.put(h.jwtClient)
			return request{body: jwtForm(h.assertion(h.jwtClient, nil))}
		},
		"private_key_jwt with an RS256 key": func() request {
			if err := h.fx.AddKey(h.jwtClient, signing.RS256, nil); err != nil {
				t.Fatal(err)
			}
			h.put(h.jwtClient)
			return request{body: jwtForm(h.assertion(h.jwtClient, nil))}
		},
		"a previous secret within its grace": func() request {
			old := h.secret.Secret
			grace := time.Now().Add(time.Hour)
			if err := h.fx.RotateSecret(h.secret, &grace); err != nil {
				t.Fatal(err)
			}
			h.put(h.secret)
			return request{body: form("grant_type", ccGrant), basic: []string{h.secret.ID(), old}}
		},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			if resp := h.do(req()); resp.status != http.StatusOK || resp.json["access_token"] == nil {
				t.Fatalf("got %d %s", resp.status, resp.body)
			}
		})
	}
}

func TestTokenLifetimeIsBoundedByTheCredential(t *testing.T) {
	h := newHarness(t)
	soon := time.Now().Add(10 * time.Minute)
	h.secret.Record.ExpiresAt = &soon
	h.put(h.secret)
	resp := h.do(basicToken(h))
	if exp := int64(resp.json["expiration"].(float64)); exp > soon.Unix() || exp < soon.Unix()-1 {
		t.Errorf("expiration %d, want the credential's expiry %d", exp, soon.Unix())
	}
}

// TestConcurrentReplayOneWins is SECURITY.md item 11 on one replica: of
// many concurrent requests with one assertion, exactly one gets a token.
func TestConcurrentReplayOneWins(t *testing.T) {
	h := newHarness(t)
	a := h.assertion(h.jwtClient, nil)
	const n = 16
	var wg sync.WaitGroup
	codes := make(chan int, n)
	for range n {
		wg.Go(func() { codes <- h.do(request{body: jwtForm(a)}).status })
	}
	wg.Wait()
	close(codes)
	ok := 0
	for c := range codes {
		if c == http.StatusOK {
			ok++
		} else if c != http.StatusUnauthorized {
			t.Errorf("unexpected status %d", c)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent uses of one jti succeeded, want exactly 1", ok, n)
	}
	list, err := h.kube.CoreV1().ConfigMaps(testNamespace).List(t.Context(), metav1.ListOptions{})
	if err != nil || len(list.Items) != 1 || list.Items[0].Labels[record.LabelComponent] != kube.ComponentLedger ||
		list.Items[0].Annotations[record.AnnotationExpiresAt] == "" || len(kube.DecodeLedger(&list.Items[0]).Assertions) != 1 {
		t.Fatalf("want one ledger ConfigMap with one assertion and expires-at, got %+v (%v)", list, err)
	}
}

func TestReplayCheckFailureFailsClosed(t *testing.T) {
	h := newHarness(t)
	failCreates(h)
	resp := h.do(request{body: jwtForm(h.assertion(h.jwtClient, nil))})
	if resp.status != http.StatusServiceUnavailable || resp.errorCode() != "temporarily_unavailable" {
		t.Fatalf("got %d %s, want 503 temporarily_unavailable", resp.status, resp.body)
	}
}

func TestFailedAuthenticationsAreRateLimited(t *testing.T) {
	limits := ratelimit.Config{SourceBurst: 3, SourceRate: 0.01, ClientBurst: 4, ClientRate: 0.01, MaxKeys: 100}
	h := newHarness(t, func(c *tokenserver.Config) { c.Limits = &limits })
	bad := request{body: form("grant_type", ccGrant), basic: []string{h.secret.ID(), wrongSecret(h)}}
	from := func(r request, addr string) request { r.remote = addr; return r }
	expect := func(what string, r request, want int) {
		t.Helper()
		resp := h.do(r)
		if resp.status != want {
			t.Fatalf("%s: got %d %s, want %d", what, resp.status, resp.body, want)
		}
		if want == http.StatusTooManyRequests && resp.header.Get("Retry-After") == "" {
			t.Fatalf("%s: 429 without Retry-After", what)
		}
	}
	for range 3 {
		expect("a failure within the source's burst", from(bad, "192.0.2.1:1"), http.StatusUnauthorized)
	}
	expect("a failure past the source's burst", from(bad, "192.0.2.1:1"), http.StatusTooManyRequests)
	expect("the right secret from the limited source", from(basicToken(h), "192.0.2.1:1"), http.StatusOK)
	expect("a second source's failure once the client's burst is spent", from(bad, "192.0.2.2:1"), http.StatusTooManyRequests)
	expect("the right secret from that source", from(basicToken(h), "192.0.2.2:1"), http.StatusOK)
	expect("the real client from an address without failures", from(basicToken(h), "198.51.100.7:1"), http.StatusOK)
	if !strings.Contains(h.logs.String(), `"reason":"rate_limited"`) {
		t.Error("the 429 left no audit line")
	}

	// Introspection and revocation take credentials too: guessing there
	// is limited the same way (a client_id of its own per endpoint, so the
	// client bucket emptied above plays no part).
	for i, path := range []string{tokenserver.IntrospectPath, tokenserver.RevokePath} {
		clientID := "sgc_" + strings.Repeat(string(rune('a'+i)), 26) // well-formed, unknown
		guess := request{path: path, body: form("token", "x"), basic: []string{clientID, wrongSecret(h)}}
		addr := fmt.Sprintf("203.0.113.%d:1", i+1)
		for range 3 {
			expect(path+": a failure within the source's burst", from(guess, addr), http.StatusUnauthorized)
		}
		expect(path+": a failure past the source's burst", from(guess, addr), http.StatusTooManyRequests)
	}
}

func TestIntrospection(t *testing.T) {
	h := newHarness(t)
	t.Run("an unauthenticated caller gets 401", func(t *testing.T) {
		resp := h.do(request{path: tokenserver.IntrospectPath, body: form("token", h.tokenFor(h.secret))})
		if resp.status != http.StatusUnauthorized || resp.json["active"] != nil {
			t.Fatalf("got %d %s", resp.status, resp.body)
		}
	})
	t.Run("a caller with a wrong secret gets 401", func(t *testing.T) {
		resp := h.do(request{path: tokenserver.IntrospectPath, body: form("token", h.tokenFor(h.secret)), basic: []string{h.secret.ID(), wrongSecret(h)}})
		if resp.status != http.StatusUnauthorized {
			t.Fatalf("got %d %s", resp.status, resp.body)
		}
	})
	t.Run("an active token shows its claims", func(t *testing.T) {
		token := h.tokenFor(h.secret, "scope", "orders:read")
		got := h.introspect(token)
		claims := decodeSegment(t, token, 1)
		want := map[string]any{"active": true, "scope": "orders:read", "client_id": h.secret.ID(), "sub": h.secret.Record.Subject,
			"iss": testIssuer, "exp": claims["exp"], "iat": claims["iat"], "jti": claims["jti"], "token_type": "Bearer", "aud": []any{apiAudience}}
		if mustJSON(got) != mustJSON(want) {
			t.Errorf("got %s\nwant %s", mustJSON(got), mustJSON(want))
		}
	})
	t.Run("an API-key client and a private_key_jwt client may introspect", func(t *testing.T) {
		token := h.tokenFor(h.secret)
		h.jwtClient.Record.Scopes = []string{"orders:read", tokenserver.IntrospectScope}
		h.put(h.jwtClient)
		for _, body := range []string{
			form("token", token, "apikey", h.apiKey.Secret),
			form("token", token, "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion", h.assertion(h.jwtClient, nil)),
		} {
			resp := h.do(request{path: tokenserver.IntrospectPath, body: body})
			if resp.status != http.StatusOK || resp.json["active"] != true {
				t.Errorf("got %d %s", resp.status, resp.body)
			}
		}
	})
}

// TestIntrospectionInactive covers SECURITY.md item 16: each token here
// must introspect as {"active": false} and nothing else.
func TestIntrospectionInactive(t *testing.T) {
	cases := map[string]func(h *harness) string{
		"a malformed token": func(*harness) string { return "not-a-token" },
		"a token with too many dots": func(h *harness) string {
			return h.tokenFor(h.secret) + strings.Repeat(".", 100)
		},
		"an oversized token": func(h *harness) string { return strings.Repeat("a", 9<<10) + ".b.c" },
		"a token with a bad signature": func(h *harness) string {
			tok := h.tokenFor(h.secret)
			parts := strings.Split(tok, ".")
			claims := decodeSegment(t, tok, 1)
			claims["scope"] = "orders:read orders:write admin"
			raw, _ := json.Marshal(claims)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
		},
		"a token signed by an unknown key": func(h *harness) string {
			key, _ := signing.NewKey(signing.ES256, time.Now(), time.Now())
			return mint(h, key, h.secret, time.Now(), time.Hour)
		},
		"an expired token": func(h *harness) string {
			return mint(h, h.fx.Keys.Keys[0], h.secret, time.Now().Add(-2*time.Hour), time.Hour)
		},
		"a token revoked through /revoke": func(h *harness) string {
			tok := h.tokenFor(h.secret)
			if resp := h.do(request{path: tokenserver.RevokePath, body: form("token", tok), basic: []string{h.secret.ID(), h.secret.Secret}}); resp.status != 200 {
				h.t.Fatalf("revoking: %d %s", resp.status, resp.body)
			}
			return tok
		},
		"a token whose credential was deleted": func(h *harness) string {
			tok := h.tokenFor(h.secret)
			h.remove(h.secret)
			return tok
		},
		"a token whose account was disabled": func(h *harness) string {
			tok := h.tokenFor(h.secret)
			h.secret.Record.Disabled = true
			h.put(h.secret)
			return tok
		},
		"a token whose credential was revoked": func(h *harness) string {
			tok := h.tokenFor(h.secret)
			h.secret.Record.Revoked = true
			h.put(h.secret)
			return tok
		},
		"a token issued before the credential's revocation epoch": func(h *harness) string {
			tok := h.tokenFor(h.secret)
			if err := h.fx.RotateSecret(h.secret, nil); err != nil {
				h.t.Fatal(err)
			}
			h.put(h.secret)
			return tok
		},
		"a token whose scope was withdrawn": func(h *harness) string {
			tok := h.tokenFor(h.secret)
			h.secret.Record.Scopes = []string{"orders:read"}
			h.put(h.secret)
			return tok
		},
		"a token whose audience was withdrawn": func(h *harness) string {
			tok := h.tokenFor(h.secret)
			h.secret.Record.Audiences = []string{"https://other.example.test"}
			h.put(h.secret)
			return tok
		},
		"a token from another issuer": func(h *harness) string {
			c := claimsFor(h.secret, time.Now(), time.Hour)
			c.Issuer = "https://evil.example.test"
			tok, _ := accesstoken.Mint(h.fx.Keys.Keys[0], c)
			return tok
		},
	}
	for name, token := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			tok := token(h)
			// Introspect as a client the case did not touch.
			resp := h.do(request{path: tokenserver.IntrospectPath, body: form("token", tok, "apikey", h.apiKey.Secret)})
			if resp.status != http.StatusOK || string(resp.body) != `{"active":false}` {
				t.Fatalf("got %d %s, want 200 {\"active\":false}", resp.status, resp.body)
			}
		})
	}
}

func claimsFor(c interface{ ID() string }, issued time.Time, life time.Duration) *accesstoken.Claims {
	jti, _ := accesstoken.NewID(issued)
	return &accesstoken.Claims{
		RegisteredClaims: jwt.RegisteredClaims{Issuer: testIssuer, Subject: "signet:tenant:billing", Audience: jwt.ClaimStrings{apiAudience},
			IssuedAt: jwt.NewNumericDate(issued), ExpiresAt: jwt.NewNumericDate(issued.Add(life)), ID: jti},
		ClientID: c.ID(), Scope: "orders:read",
	}
}

func mint(h *harness, key *signing.Key, c interface{ ID() string }, issued time.Time, life time.Duration) string {
	h.t.Helper()
	tok, err := accesstoken.Mint(key, claimsFor(c, issued, life))
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func TestRevocation(t *testing.T) {
	t.Run("a client cannot revoke another client's token", func(t *testing.T) {
		h := newHarness(t)
		tok := h.tokenFor(h.secret)
		resp := h.do(request{path: tokenserver.RevokePath, body: form("token", tok, "apikey", h.apiKey.Secret)})
		if resp.status != http.StatusBadRequest || resp.errorCode() != "unauthorized_client" {
			t.Fatalf("got %d %s", resp.status, resp.body)
		}
		if h.introspect(tok)["active"] != true {
			t.Error("the token was revoked by another client")
		}
	})
	t.Run("revocation needs an authenticated client", func(t *testing.T) {
		h := newHarness(t)
		tok := h.tokenFor(h.secret)
		if resp := h.do(request{path: tokenserver.RevokePath, body: form("token", tok)}); resp.status != http.StatusUnauthorized {
			t.Fatalf("got %d %s", resp.status, resp.body)
		}
		if h.introspect(tok)["active"] != true {
			t.Error("an unauthenticated request revoked the token")
		}
	})
	t.Run("an unknown token gets 200", func(t *testing.T) {
		h := newHarness(t)
		resp := h.do(request{path: tokenserver.RevokePath, body: form("token", "garbage"), basic: []string{h.secret.ID(), h.secret.Secret}})
		if resp.status != http.StatusOK {
			t.Fatalf("got %d %s", resp.status, resp.body)
		}
	})
	t.Run("a revocation is recorded in the client's ledger and revoking twice is fine", func(t *testing.T) {
		h := newHarness(t)
		tok := h.tokenFor(h.secret)
		for range 2 {
			resp := h.do(request{path: tokenserver.RevokePath, body: form("token", tok), basic: []string{h.secret.ID(), h.secret.Secret}})
			if resp.status != http.StatusOK || resp.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("got %d %v", resp.status, resp.header)
			}
		}
		list, _ := h.kube.CoreV1().ConfigMaps(testNamespace).List(t.Context(), metav1.ListOptions{})
		if len(list.Items) != 1 || list.Items[0].Labels[record.LabelComponent] != kube.ComponentLedger {
			t.Fatalf("want one ledger ConfigMap, got %+v", list.Items)
		}
		st := kube.DecodeLedger(&list.Items[0])
		if _, ok := st.Revoked[decodeSegment(t, tok, 1)["jti"].(string)]; !ok || len(st.Revoked) != 1 || st.ClientID != h.secret.ID() {
			t.Fatalf("the ledger does not list the token: %+v", st)
		}
	})
	t.Run("a revocation that cannot be recorded gets 503 and the token stays active", func(t *testing.T) {
		h := newHarness(t)
		tok := h.tokenFor(h.secret)
		failCreates(h)
		resp := h.do(request{path: tokenserver.RevokePath, body: form("token", tok), basic: []string{h.secret.ID(), h.secret.Secret}})
		if resp.status != http.StatusServiceUnavailable {
			t.Fatalf("got %d %s, want 503", resp.status, resp.body)
		}
		if h.introspect(tok)["active"] != true {
			t.Error("an unrecorded revocation took effect locally only")
		}
	})
}

// failCreates makes every write on the fake API server fail, as an
// unreachable or overloaded API server would.
func failCreates(h *harness) {
	for _, verb := range []string{"create", "update"} {
		h.kube.PrependReactor(verb, "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewServiceUnavailable("etcd is down")
		})
	}
}
