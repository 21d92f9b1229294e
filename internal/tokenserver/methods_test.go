package tokenserver_test

import (
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signet-iam/signet/internal/tokenserver"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
)

// methodRequests are token requests that authenticate with each method,
// each built fresh (an assertion is single-use). A Federated client's
// workload token comes both as a client assertion and as an RFC 8693
// subject_token.
func methodRequests(f *federatedHarness) map[clientauth.Method][]func() request {
	h := f.harness
	return map[clientauth.Method][]func() request{
		clientauth.MethodBasic: {func() request { return basicToken(h) }},
		clientauth.MethodPost: {func() request {
			return request{body: form("grant_type", ccGrant, "client_id", h.secret.ID(), "client_secret", h.secret.Secret)}
		}},
		clientauth.MethodJWT: {func() request { return request{body: jwtForm(h.assertion(h.jwtClient, nil))} }},
		clientauth.MethodAPIKey: {func() request {
			return request{body: form("grant_type", tokenserver.GrantAPIKey, "apikey", h.apiKey.Secret)}
		}},
		clientauth.MethodFederated: {
			func() request { return request{body: jwtForm(f.ciToken(nil))} },
			func() request { return request{body: exchangeForm(f.ciToken(nil))} },
		},
	}
}

// registeredMethods is IANA's registry of OAuth token endpoint
// authentication methods (RFC 7591 2, RFC 8705 2): the only names a
// client library understands in discovery.
var registeredMethods = []string{"none", "client_secret_post", "client_secret_basic", "client_secret_jwt",
	"private_key_jwt", "tls_client_auth", "self_signed_tls_client_auth"}

// TestMethodTable: every client-authentication method of clientauth's
// table gets a token at the token endpoint, and the audit line names that
// method: no entry is unreachable, and no request here uses a method the
// table lacks.
func TestMethodTable(t *testing.T) {
	f := newFederatedHarness(t, nil)
	requests := methodRequests(f)
	methods := clientauth.Methods()
	if len(methods) != len(requests) {
		t.Errorf("the table has %d methods, this test requests %d", len(methods), len(requests))
	}
	for _, m := range methods {
		reqs, ok := requests[m]
		if !ok {
			t.Errorf("method %s of the table has no request in this test", m)
			continue
		}
		for i, req := range reqs {
			f.logs.Reset()
			resp := f.do(req())
			if resp.status != http.StatusOK {
				t.Errorf("%s (request %d): %d %s", m, i, resp.status, resp.body)
				continue
			}
			if got := auditField(t, lastLine(f.logs.String()), "method"); got != string(m) {
				t.Errorf("%s (request %d): the audit line names method %q", m, i, got)
			}
		}
	}
}

// TestDiscoveryListsTheTables: the discovery document lists exactly the
// grant types the token endpoint accepts, and for every authenticating
// endpoint exactly the methods of clientauth's table that have a
// registered name, each of which authenticates there.
func TestDiscoveryListsTheTables(t *testing.T) {
	f := newFederatedHarness(t, nil)
	h := f.harness
	resp := f.do(request{method: http.MethodGet, path: tokenserver.OAuthMetaPath})
	if resp.status != http.StatusOK {
		t.Fatalf("discovery: %d %s", resp.status, resp.body)
	}
	if other := f.do(request{method: http.MethodGet, path: tokenserver.OIDCConfigPath}); string(other.body) != string(resp.body) {
		t.Errorf("the two discovery documents differ:\n%s\n%s", resp.body, other.body)
	}
	list := func(field string) []string {
		t.Helper()
		raw, ok := resp.json[field].([]any)
		if !ok {
			t.Fatalf("discovery lacks %s: %s", field, resp.body)
		}
		out := make([]string, len(raw))
		for i, v := range raw {
			out[i], _ = v.(string)
		}
		return out
	}

	t.Run("grants: listed exactly when the token endpoint takes them", func(t *testing.T) {
		grants := list("grant_types_supported")
		tokenRequests := map[string]func() request{
			ccGrant: func() request { return basicToken(h) },
			tokenserver.GrantAPIKey: func() request {
				return request{body: form("grant_type", tokenserver.GrantAPIKey, "apikey", h.apiKey.Secret)}
			},
			tokenserver.GrantIBMAPIKey: func() request {
				return request{body: form("grant_type", tokenserver.GrantIBMAPIKey, "apikey", h.apiKey.Secret)}
			},
			tokenserver.GrantTokenExchange: func() request { return request{body: exchangeForm(f.ciToken(nil))} },
		}
		candidates := append(slices.Clone(grants), "password", "authorization_code", "refresh_token",
			"urn:ietf:params:oauth:grant-type:jwt-bearer", "urn:ietf:params:oauth:grant-type:device_code")
		for g := range tokenRequests {
			candidates = append(candidates, g)
		}
		for _, g := range candidates {
			listed := slices.Contains(grants, g)
			if !listed {
				r := f.do(request{body: form("grant_type", g, "client_id", h.secret.ID(), "client_secret", h.secret.Secret)})
				if r.errorCode() != "unsupported_grant_type" {
					t.Errorf("grant %s is not listed, but the token endpoint answers %d %s", g, r.status, r.body)
				}
				continue
			}
			req, ok := tokenRequests[g]
			if !ok {
				t.Errorf("grant %s is listed but this test has no request for it", g)
				continue
			}
			if r := f.do(req()); r.status != http.StatusOK {
				t.Errorf("grant %s is listed, but the token endpoint answers %d %s", g, r.status, r.body)
			}
		}
	})

	t.Run("methods: the table's registered ones, for every endpoint", func(t *testing.T) {
		want := clientauth.AdvertisedMethods()
		if len(want) == 0 {
			t.Fatal("the table advertises no method")
		}
		for _, endpoint := range []string{"token", "introspection", "revocation"} {
			if got := list(endpoint + "_endpoint_auth_methods_supported"); !slices.Equal(got, want) {
				t.Errorf("%s_endpoint_auth_methods_supported %v, want %v", endpoint, got, want)
			}
			if got := list(endpoint + "_endpoint_auth_signing_alg_values_supported"); !slices.Equal(got, clientauth.AdvertisedSigningAlgorithms()) ||
				!slices.Contains(got, h.jwtClient.Algorithm) {
				t.Errorf("%s_endpoint_auth_signing_alg_values_supported %v", endpoint, got)
			}
		}
		requests := methodRequests(f)
		for _, m := range want {
			if !slices.Contains(clientauth.Methods(), clientauth.Method(m)) {
				t.Errorf("discovery lists %s, which is not in the table", m)
				continue
			}
			if !slices.Contains(registeredMethods, m) {
				t.Errorf("discovery lists %s, which is not a registered token endpoint authentication method", m)
			}
			for _, req := range requests[clientauth.Method(m)] {
				if r := f.do(req()); r.status != http.StatusOK {
					t.Errorf("discovery lists %s, but the token endpoint answers %d %s", m, r.status, r.body)
				}
				// Introspection and revocation read the same credentials.
				r := req()
				r.path = tokenserver.IntrospectPath
				r.body += "&" + form("token", "x")
				if got := f.do(r); got.status != http.StatusOK {
					t.Errorf("discovery lists %s for introspection, which answers %d %s", m, got.status, got.body)
				}
			}
		}
	})
}

// TestPreviousSecretUseIsReported: a token obtained with a previous
// secret in grace, by either secret method, is reported with the client
// and its source address; one obtained with the current secret is not.
func TestPreviousSecretUseIsReported(t *testing.T) {
	var mu sync.Mutex
	var reports []string
	h := newHarness(t, func(c *tokenserver.Config) {
		c.PreviousSecretUsed = func(clientID, source string) {
			mu.Lock()
			defer mu.Unlock()
			reports = append(reports, clientID+" from "+source)
		}
	})
	old := h.secret.Secret
	grace := time.Now().Add(time.Hour)
	if err := h.fx.RotateSecret(h.secret, &grace); err != nil {
		t.Fatal(err)
	}
	h.put(h.secret)
	for _, req := range []request{
		{body: form("grant_type", ccGrant), basic: []string{h.secret.ID(), h.secret.Secret}, remote: "192.0.2.1:1000"},
		{body: form("grant_type", ccGrant), basic: []string{h.secret.ID(), old}, remote: "192.0.2.2:1000"},
		{body: form("grant_type", ccGrant, "client_id", h.secret.ID(), "client_secret", old), remote: "192.0.2.3:1000"},
	} {
		if resp := h.do(req); resp.status != http.StatusOK {
			t.Fatalf("%d %s", resp.status, resp.body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{h.secret.ID() + " from 192.0.2.2", h.secret.ID() + " from 192.0.2.3"}
	if !slices.Equal(reports, want) {
		t.Errorf("reports %q, want %q", reports, want)
	}
}
