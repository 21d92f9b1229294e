package clientauth

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/signet-iam/signet/internal/tokenserver/index"
)

// TestMethodTableDispatch: each entry of the table is complete, Extract
// finds every method a request can name, and Check hands each method to
// its own check (the failure reason of an empty index is the method's, not
// "no credentials"); a method outside the table is no authentication.
func TestMethodTableDispatch(t *testing.T) {
	// presented are form bodies (and a Basic header) that use one method.
	presented := map[Method]struct {
		header http.Header
		body   string
	}{
		MethodBasic:  {header: http.Header{"Authorization": {basicHeader("sgc_a", "sgs_b")}}, body: "grant_type=client_credentials"},
		MethodPost:   {body: "client_id=sgc_a&client_secret=sgs_b"},
		MethodJWT:    {body: "client_assertion_type=" + AssertionType + "&client_assertion=a.b.c"},
		MethodAPIKey: {body: "apikey=sgk_a"},
	}
	// dispatched is the reason each method's check gives credentials that
	// name nothing the empty index holds.
	dispatched := map[Method]string{
		MethodBasic:     ReasonUnknownClient,
		MethodPost:      ReasonUnknownClient,
		MethodJWT:       ReasonAssertion,
		MethodAPIKey:    ReasonNotReady,
		MethodFederated: ReasonFederatedMalformed,
	}
	a := &Authenticator{Index: index.New(), Now: time.Now}
	seen := map[Method]bool{}
	for _, m := range methods {
		if seen[m.name] {
			t.Errorf("%s is in the table twice", m.name)
		}
		seen[m.name] = true
		if m.check == nil {
			t.Errorf("%s has no check", m.name)
			continue
		}
		if m.advertised && m.read == nil {
			t.Errorf("%s is advertised, but no request can present it", m.name)
		}
		if p, ok := presented[m.name]; ok != (m.read != nil) {
			t.Errorf("%s: this test presents it: %v; the table reads it: %v", m.name, ok, m.read != nil)
		} else if ok {
			if c, fl := Extract(p.header, mustParse(t, p.body)); fl != nil || c.Method != m.name {
				t.Errorf("%s: Extract found %q, %+v", m.name, c.Method, fl)
			}
		}
		want, ok := dispatched[m.name]
		if !ok {
			t.Errorf("%s has no expected reason in this test", m.name)
			continue
		}
		_, _, fl := a.Check(context.Background(), Credentials{Method: m.name, ClientID: "sgc_a", Secret: "sgs_b", Assertion: "a.b.c"})
		if fl == nil || fl.Reason != want {
			t.Errorf("%s: Check failed with %+v, want reason %s", m.name, fl, want)
		} else if fl.Basic != m.challenge {
			t.Errorf("%s: Basic challenge %v", m.name, fl.Basic)
		}
	}
	if len(seen) != len(dispatched) {
		t.Errorf("the table has %d methods, this test knows %d", len(seen), len(dispatched))
	}
	for _, m := range []Method{"", "client_secret_jwt", "tls_client_auth"} {
		if _, _, fl := a.Check(context.Background(), Credentials{Method: m, ClientID: "sgc_a", Secret: "sgs_b"}); fl == nil || fl.Reason != ReasonNoCredentials {
			t.Errorf("method %q outside the table: %+v", m, fl)
		}
	}
}
