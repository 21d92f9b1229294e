package main

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/kube"
)

// TestChangesAreEnforcedOnEveryReplica is SECURITY.md item 18 against the
// real API server: after each change to a record is written, the token
// endpoint refuses the client and its earlier token introspects as
// inactive, on every replica. It logs how long that took; the one-second
// target is asserted by make chaos (TestRevocationPropagation).
func TestChangesAreEnforcedOnEveryReplica(t *testing.T) {
	ns, fx := namespace(t, cs)
	// asker introspects the other clients' tokens: it holds the entitlement.
	asker := newClient(t, fx, record.TypeClientSecret, "asker", tokenserver.IntrospectScope)
	changes := map[string]func(cl *fixture.Client) bool{
		"disabling the account": func(cl *fixture.Client) bool {
			cl.Record.Disabled = true
			writeClient(t, cs, fx, cl)
			return false
		},
		"revoking the credential": func(cl *fixture.Client) bool {
			cl.Record.Revoked = true
			writeClient(t, cs, fx, cl)
			return false
		},
		"deleting the credential": func(cl *fixture.Client) bool {
			if err := cs.CoreV1().Secrets(ns).Delete(t.Context(), record.SecretName(cl.ID()), metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			return false
		},
		"rotating the secret without grace": func(cl *fixture.Client) bool {
			if err := fx.RotateSecret(cl, nil); err != nil {
				t.Fatal(err)
			}
			writeClient(t, cs, fx, cl)
			// The new secret must work at once; the old one must not.
			return true
		},
	}
	clients := map[string]*fixture.Client{}
	for name := range changes {
		clients[name] = newClient(t, fx, record.TypeClientSecret, "sa")
	}
	replicas := []*instance{start(t, env.Config, ns, nil), start(t, env.Config, ns, nil)}

	for name, change := range changes {
		t.Run(name, func(t *testing.T) {
			cl := clients[name]
			old := *cl
			tok := replicas[0].token(t, cl)
			if tok.status != http.StatusOK {
				t.Fatalf("before the change: %d %s", tok.status, tok.body)
			}
			token := tok.json["access_token"].(string)
			newSecretWorks := change(cl)
			changed := time.Now()
			for i, r := range replicas {
				for {
					refused := r.token(t, &old).status != http.StatusOK
					if refused && !r.active(t, token, asker) {
						break
					}
					if time.Since(changed) > 10*time.Second {
						t.Fatalf("replica %d still accepts the old credential or token after 10 s", i)
					}
					time.Sleep(10 * time.Millisecond)
				}
				// The one-second target of SECURITY.md item 18 is
				// measured by make chaos, not asserted on a busy machine.
				t.Logf("replica %d enforced %s after %v", i, name, time.Since(changed).Round(time.Millisecond))
				if newSecretWorks {
					if r := r.token(t, cl); r.status != http.StatusOK {
						t.Errorf("the new secret is refused: %d %s", r.status, r.body)
					}
				}
			}
		})
	}
}

// TestStateHoldsAcrossReplicasAndRestarts: SECURITY.md items 11 and 17 with
// two token servers on one namespace: one jti is used once across both, and
// a revocation made on one holds on the other and after a restart.
func TestStateHoldsAcrossReplicasAndRestarts(t *testing.T) {
	ns, fx := namespace(t, cs)
	signer := newClient(t, fx, record.TypePrivateKeyJWT, "signer")
	owner := newClient(t, fx, record.TypeClientSecret, "owner")
	a, b := start(t, env.Config, ns, nil), start(t, env.Config, ns, nil)

	t.Run("of concurrent requests with one jti on two replicas, exactly one succeeds", func(t *testing.T) {
		assertion := signAssertion(t, signer)
		form := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {assertion},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
		var wg sync.WaitGroup
		statuses := make(chan int, 8)
		for i := range 8 {
			target := []*instance{a, b}[i%2]
			wg.Go(func() { statuses <- post(t, target.url+"/oauth2/token", form).status })
		}
		wg.Wait()
		close(statuses)
		ok := 0
		for s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusUnauthorized:
			default:
				t.Errorf("status %d", s)
			}
		}
		if ok != 1 {
			t.Fatalf("%d requests succeeded, want exactly 1", ok)
		}
	})

	t.Run("a revocation on one replica holds on the other and after a restart", func(t *testing.T) {
		token := a.token(t, owner).json["access_token"].(string)
		if r := post(t, a.url+"/oauth2/revoke", url.Values{"token": {token}}, owner.ID(), owner.Secret); r.status != http.StatusOK {
			t.Fatalf("revoking: %d %s", r.status, r.body)
		}
		revoked := time.Now()
		for b.active(t, token, owner) {
			if time.Since(revoked) > 10*time.Second {
				t.Fatal("the other replica still says active after 10 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		a.stop()
		b.stop()
		c := start(t, env.Config, ns, nil)
		if c.active(t, token, owner) {
			t.Fatal("a restarted server forgot the revocation")
		}
	})
}

func TestGarbageCollection(t *testing.T) {
	ns, _ := namespace(t, cs)
	ledger := &kube.Ledger{Client: cs, Namespace: ns}
	now := time.Now()
	if _, err := ledger.UseAssertion(t.Context(), "sgc_a", "old", now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := ledger.UseAssertion(t.Context(), "sgc_a", "live", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := ledger.Revoke(t.Context(), "01KAAAAAAAAAAAAAAAAAAAAAAA", "sgc_b", now.Add(-2*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	gc := &kube.Collector{Client: cs, Namespace: ns}
	for i, want := range []int{1, 0} {
		n, err := gc.Collect(t.Context(), now)
		if err != nil || n != want {
			t.Fatalf("run %d deleted %d (%v), want %d", i, n, err, want)
		}
	}
	left, _ := cs.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{LabelSelector: kube.CollectSelector})
	if len(left.Items) != 1 || left.Items[0].Name != kube.LedgerName("sgc_a") {
		t.Fatalf("left %v", left.Items)
	}
	if first, err := ledger.UseAssertion(t.Context(), "sgc_a", "live", now.Add(time.Hour)); err != nil || first {
		t.Fatal("a live jti was usable again after collection")
	}
}
