package tokenserver_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
)

// TestIntrospectionIsAuthorised covers SECURITY.md item 30: a caller learns
// about a token only when it is the token's client or holds an
// introspection entitlement covering it; anyone else gets exactly
// {"active":false}, as for an unknown token.
func TestIntrospectionIsAuthorised(t *testing.T) {
	h := newHarness(t)
	token := h.tokenFor(h.secret) // namespace "tenant", audience apiAudience

	caller := func(namespace string, scopes ...string) *fixture.Client {
		c := h.client(record.TypeClientSecret, "caller-"+randomID(), append(scopes, "orders:read"), nil)
		c.Record.Namespace = namespace
		c.Record.Subject = "signet:" + namespace + ":" + c.Record.ServiceAccount
		c.Record.Scopes = slices.Sorted(slices.Values(c.Record.Scopes))
		h.put(c)
		return c
	}
	cases := map[string]struct {
		caller *fixture.Client
		active bool
	}{
		"the token's own client":                                     {h.secret, true},
		"a client of the same namespace without an entitlement":      {caller("tenant"), false},
		"a client of the same namespace with signet:introspect":      {caller("tenant", tokenserver.IntrospectScope), true},
		"a client of another namespace with signet:introspect":       {caller("other", tokenserver.IntrospectScope), false},
		"a client of another namespace entitled to the audience":     {caller("other", tokenserver.IntrospectAudiencePrefix+apiAudience), true},
		"a client of another namespace entitled to another audience": {caller("other", tokenserver.IntrospectAudiencePrefix+"https://other.example.test"), false},
		"a client of another namespace without an entitlement":       {caller("other"), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp := h.do(request{path: tokenserver.IntrospectPath, body: form("token", token), basic: []string{tc.caller.ID(), tc.caller.Secret}})
			if resp.status != http.StatusOK {
				t.Fatalf("got %d %s", resp.status, resp.body)
			}
			if !tc.active {
				if string(resp.body) != `{"active":false}` {
					t.Fatalf(`got %s, want {"active":false} and nothing else`, resp.body)
				}
				return
			}
			if resp.json["active"] != true || resp.json["sub"] != h.secret.Record.Subject || resp.json["client_id"] != h.secret.ID() {
				t.Fatalf("got %s, want the token's claims", resp.body)
			}
		})
	}

	t.Run("an entitlement to introspect does not allow revoking", func(t *testing.T) {
		c := caller("tenant", tokenserver.IntrospectScope)
		resp := h.do(request{path: tokenserver.RevokePath, body: form("token", token), basic: []string{c.ID(), c.Secret}})
		if resp.errorCode() != clientauth.CodeUnauthorizedClient {
			t.Fatalf("revoking another client's token: got %d %s", resp.status, resp.body)
		}
		if h.introspect(token)["active"] != true {
			t.Fatal("the token was revoked by another client")
		}
	})
}
