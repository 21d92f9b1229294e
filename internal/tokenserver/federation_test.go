package tokenserver_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/testutil/oidcissuer"
	"github.com/signet-iam/signet/internal/tokenserver"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/jwks"
)

const (
	ciSubject = "repo:acme/api:ref:refs/heads/main"
	ciRule    = `claims.repository_owner == "acme" && claims.environment == "prod"`
)

// federatedHarness is a token server with one Federated client trusting a
// local issuer that stands in for GitHub Actions.
type federatedHarness struct {
	*harness
	issuer *oidcissuer.Issuer
	keys   *jwks.Cache
	client *fixture.Client
}

func newFederatedHarness(t testing.TB, keys *jwks.Cache) *federatedHarness {
	t.Helper()
	is, err := oidcissuer.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	if keys == nil {
		keys = &jwks.Cache{}
	}
	h := newHarness(t, func(c *tokenserver.Config) { c.Federation = &clientauth.Federation{Keys: keys} })
	c, err := h.fx.NewClient(record.TypeFederated, "deployer", []string{"orders:write"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Record.Federation = &record.Federation{Issuer: is.URL, Subject: ciSubject, Audience: testIssuer, Claims: ciRule}
	h.put(c)
	return &federatedHarness{harness: h, issuer: is, keys: keys, client: c}
}

// ciToken is a token as GitHub Actions would issue it, after edit.
func (f *federatedHarness) ciToken(edit func(jwt.MapClaims)) string {
	f.t.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"sub": ciSubject, "aud": testIssuer, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
		"repository_owner": "acme", "environment": "prod", "jti": randomID(),
	}
	if edit != nil {
		edit(claims)
	}
	tok, err := f.issuer.Sign(claims)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func exchangeForm(token string, extra ...string) string {
	return form(append([]string{"grant_type", tokenserver.GrantTokenExchange,
		"subject_token_type", tokenserver.TokenTypeJWT, "subject_token", token}, extra...)...)
}

// TestFederatedExchange: a workload token of a trusted issuer gets a token
// with the account's scopes, as a client assertion (with or without
// client_id) and as an RFC 8693 subject_token; the token never outlives
// the workload token; the same workload token may be exchanged again.
func TestFederatedExchange(t *testing.T) {
	f := newFederatedHarness(t, nil)
	tok := f.ciToken(nil)
	for name, body := range map[string]string{
		"client assertion without client_id": jwtForm(tok),
		"client assertion with client_id":    jwtForm(tok, "client_id", f.client.ID()),
		"token exchange":                     exchangeForm(tok),
		"token exchange with client_id":      exchangeForm(tok, "client_id", f.client.ID(), "requested_token_type", tokenserver.TokenTypeAccessToken),
	} {
		t.Run(name, func(t *testing.T) {
			resp := f.do(request{body: body})
			if resp.status != http.StatusOK {
				t.Fatalf("%d %s", resp.status, resp.body)
			}
			if resp.json["scope"] != "orders:write" {
				t.Errorf("scope %v", resp.json["scope"])
			}
			if exp := resp.json["expires_in"].(float64); exp > 5*60 || exp < 4*60 {
				t.Errorf("expires_in %v: the access token must not outlive the 5-minute workload token", exp)
			}
			wantType := ""
			if strings.HasPrefix(name, "token exchange") {
				wantType = tokenserver.TokenTypeAccessToken
			}
			if got, _ := resp.json["issued_token_type"].(string); got != wantType {
				t.Errorf("issued_token_type %q, want %q", got, wantType)
			}
			// Introspected by a client of the same namespace allowed to.
			claims := f.do(request{path: tokenserver.IntrospectPath, body: form("token", resp.json["access_token"].(string), "apikey", f.apiKey.Secret)}).json
			if claims["active"] != true || claims["client_id"] != f.client.ID() || claims["sub"] != f.client.Record.Subject {
				t.Errorf("introspection %v", claims)
			}
		})
	}
	if !strings.Contains(f.logs.String(), `"method":"federated_jwt"`) {
		t.Error("the audit lines do not name the federated method")
	}
}

// TestFederatedRefusals: every way a workload token can be wrong is
// refused with invalid_client (client assertion) or invalid_grant (token
// exchange), with the reason in the audit line and never in the response.
func TestFederatedRefusals(t *testing.T) {
	f := newFederatedHarness(t, nil)
	stranger, err := oidcissuer.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	untrusted, _ := stranger.Sign(jwt.MapClaims{"sub": ciSubject, "aud": testIssuer, "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix()})
	// A token of a stranger that claims the trusted issuer's iss: the
	// signature gives it away.
	forged, _ := stranger.Sign(jwt.MapClaims{"iss": f.issuer.URL, "sub": ciSubject, "aud": testIssuer,
		"exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix(), "repository_owner": "acme", "environment": "prod"})
	for name, tc := range map[string]struct {
		token, reason string
	}{
		"wrong audience":          {f.ciToken(func(c jwt.MapClaims) { c["aud"] = "https://elsewhere.example" }), clientauth.ReasonFederatedAudience},
		"another subject":         {f.ciToken(func(c jwt.MapClaims) { c["sub"] = "repo:acme/api:ref:refs/heads/dev" }), clientauth.ReasonFederatedUnknown},
		"expired":                 {f.ciToken(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() }), clientauth.ReasonFederatedLifetime},
		"not yet valid":           {f.ciToken(func(c jwt.MapClaims) { c["nbf"] = time.Now().Add(time.Hour).Unix() }), clientauth.ReasonFederatedLifetime},
		"issued in the future":    {f.ciToken(func(c jwt.MapClaims) { c["iat"] = time.Now().Add(time.Hour).Unix() }), clientauth.ReasonFederatedLifetime},
		"without exp":             {f.ciToken(func(c jwt.MapClaims) { delete(c, "exp") }), clientauth.ReasonFederatedLifetime},
		"claim rule not met":      {f.ciToken(func(c jwt.MapClaims) { c["environment"] = "staging" }), clientauth.ReasonFederatedClaims},
		"claim missing":           {f.ciToken(func(c jwt.MapClaims) { delete(c, "environment") }), clientauth.ReasonFederatedClaims},
		"untrusted issuer":        {untrusted, clientauth.ReasonFederatedUnknown},
		"forged with another key": {forged, clientauth.ReasonFederatedSignature},
		"alg none":                {unsigned(f.ciToken(nil)), clientauth.ReasonFederatedSignature},
		"not a JWT":               {"qz.not.ajwt", clientauth.ReasonFederatedMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			f.logs.Reset()
			for _, form := range []struct{ body, code string }{{jwtForm(tc.token), "invalid_client"}, {exchangeForm(tc.token), "invalid_grant"}} {
				resp := f.do(request{body: form.body})
				if resp.errorCode() != form.code {
					t.Errorf("got %d %s, want %s", resp.status, resp.body, form.code)
				}
				if strings.Contains(string(resp.body), tc.reason) {
					t.Errorf("the response names the reason %q: %s", tc.reason, resp.body)
				}
			}
			if !strings.Contains(f.logs.String(), `"reason":"`+tc.reason+`"`) {
				t.Errorf("the audit lines lack reason %q: %s", tc.reason, f.logs.String())
			}
		})
	}
}

// unsigned turns a token into an "alg":"none" one with the same claims.
func unsigned(tok string) string {
	parts := strings.Split(tok, ".")
	return "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." + parts[1] + "."
}

// TestFederatedKeys: a rotation at the issuer is picked up when a token
// names the new kid; unknown kids refresh at a bounded rate; while the
// issuer is down the cached keys keep working until they are too old.
func TestFederatedKeys(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	advance := func(d time.Duration) { now.Add(int64(d)) }
	keys := &jwks.Cache{Now: clock, RefreshAfter: time.Minute, MinRefresh: 10 * time.Second, MaxStale: time.Hour}
	f := newFederatedHarness(t, keys)
	exchange := func() response { return f.do(request{body: exchangeForm(f.ciToken(nil))}) }

	if resp := exchange(); resp.status != http.StatusOK {
		t.Fatalf("first exchange: %d %s", resp.status, resp.body)
	}
	fetches := f.issuer.JWKSFetches.Load()

	t.Run("rotation: an unknown kid refreshes the keys", func(t *testing.T) {
		if err := f.issuer.Rotate(); err != nil {
			t.Fatal(err)
		}
		advance(11 * time.Second)
		if resp := exchange(); resp.status != http.StatusOK {
			t.Fatalf("a token of the new key: %d %s", resp.status, resp.body)
		}
		if got := f.issuer.JWKSFetches.Load(); got != fetches+1 {
			t.Errorf("%d fetches for the new kid, want 1", got-fetches)
		}
	})

	t.Run("unknown kids refresh at most once per MinRefresh", func(t *testing.T) {
		before := f.issuer.JWKSFetches.Load()
		for range 20 {
			tok, err := f.issuer.SignWithKeyID(jwt.MapClaims{"sub": ciSubject, "aud": testIssuer,
				"exp": clock().Add(time.Minute).Unix(), "iat": clock().Unix()}, "key-99")
			if err != nil {
				t.Fatal(err)
			}
			resp := f.do(request{body: exchangeForm(tok)})
			if resp.errorCode() != "invalid_grant" || !strings.Contains(f.logs.String(), clientauth.ReasonFederatedKey) {
				t.Fatalf("an unknown kid: %d %s", resp.status, resp.body)
			}
		}
		if got := f.issuer.JWKSFetches.Load() - before; got > 1 {
			t.Errorf("20 tokens with an unknown kid made %d fetches, want at most 1", got)
		}
	})

	t.Run("issuer down: cached keys keep working until MaxStale", func(t *testing.T) {
		f.issuer.SetDown(true)
		defer f.issuer.SetDown(false)
		advance(2 * time.Minute) // past RefreshAfter: each use tries the issuer
		if resp := exchange(); resp.status != http.StatusOK {
			t.Fatalf("with the issuer down and keys cached: %d %s", resp.status, resp.body)
		}
		advance(time.Hour)
		resp := exchange()
		if resp.status != http.StatusServiceUnavailable || resp.errorCode() != "temporarily_unavailable" {
			t.Fatalf("keys past MaxStale with the issuer down: %d %s", resp.status, resp.body)
		}
		f.issuer.SetDown(false)
		advance(11 * time.Second)
		if resp := exchange(); resp.status != http.StatusOK {
			t.Fatalf("the issuer back: %d %s", resp.status, resp.body)
		}
	})
}

// TestFederatedStockClient: golang.org/x/oauth2's client credentials flow,
// with EndpointParams carrying the workload token as the client
// assertion, gets a token; discovery lists both forms.
func TestFederatedStockClient(t *testing.T) {
	f := newFederatedHarness(t, nil)
	ts := httptest.NewServer(f.srv.AllHandler())
	defer ts.Close()
	cc := clientcredentials.Config{
		TokenURL:  ts.URL + tokenserver.TokenPath,
		AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: map[string][]string{
			"client_assertion_type": {clientauth.AssertionType},
			"client_assertion":      {f.ciToken(nil)},
		},
	}
	tok, err := cc.Token(context.Background())
	if err != nil {
		t.Fatalf("getting a token: %v", err)
	}
	if tok.AccessToken == "" || time.Until(tok.Expiry) > 5*time.Minute {
		t.Errorf("token expiry %v", tok.Expiry)
	}
	cc.EndpointParams["client_assertion"] = []string{f.ciToken(func(c jwt.MapClaims) { c["environment"] = "dev" })}
	_, err = cc.Token(context.Background())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Fatalf("a token failing the claim rule: %v", err)
	}

	resp := f.do(request{method: http.MethodGet, path: tokenserver.OIDCConfigPath})
	grants, _ := resp.json["grant_types_supported"].([]any)
	found := false
	for _, g := range grants {
		found = found || g == tokenserver.GrantTokenExchange
	}
	if !found {
		t.Errorf("discovery lists grants %v, want token exchange among them", grants)
	}
}
