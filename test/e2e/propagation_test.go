//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/replicareport"
)

// TestRevokeAndWaitForPropagated is the pipeline of docs/revocation.md:
// "kubectl patch … revoked: true && kubectl wait --for=condition=Propagated".
// When the wait returns, all three replicas already refuse the secret and
// answer inactive for the tokens, checked once each, without retrying; the
// status counts the three replicas, and the latency is recorded in the
// status and in signet_propagation_seconds. The same holds for disabling
// the ServiceAccount.
func TestRevokeAndWaitForPropagated(t *testing.T) {
	if len(signet.Replicas) != 3 {
		t.Fatalf("%d token-server replicas, want 3", len(signet.Replicas))
	}
	for _, c := range []struct{ name, resource, patch string }{
		{"revoke the credential", "clientcredentials.iam.signet.dev/reporter", `{"spec":{"revoked":true}}`},
		{"disable the account", "serviceaccounts.iam.signet.dev/reporter", `{"spec":{"disabled":true}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := newVictim(t)
			propagated(t, v.ns, 3)
			kubectl(t, "patch", "-n", v.ns, c.resource, "--type=merge", "-p", c.patch)
			kubectl(t, "wait", "-n", v.ns, c.resource, "--for=condition=Propagated", "--timeout=30s")
			for _, check := range v.checks([]map[string]string{v.creds}) {
				if err := check.check(); err != nil {
					t.Errorf("Propagated was True, but %s does not hold: %v", check.name, err)
				}
			}
			sa := &iamv1.ServiceAccount{}
			if err := signet.Client.Get(context.Background(), client.ObjectKey{Namespace: v.ns, Name: "reporter"}, sa); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s", c.name, kubectl(t, "get", "-n", v.ns, c.resource, "-o", `jsonpath={.status.conditions[?(@.type=="Propagated")].message}`))
			if p := sa.Status.Propagation; c.resource == "serviceaccounts.iam.signet.dev/reporter" && (p == nil || p.Replicas != 3 || p.Applied != 3) {
				t.Errorf("account propagation status %+v, want 3 of 3", p)
			}
		})
	}
	body := managerMetrics(t)
	for _, kind := range []string{"ClientCredential", "ServiceAccount"} {
		if !strings.Contains(body, `signet_propagation_seconds_count{kind="`+kind+`"}`) {
			t.Errorf("signet_propagation_seconds has no %s observation:\n%s", kind, grepLines(body, "signet_propagation"))
		}
	}
}

// TestPausedReplicaHoldsPropagated: with one of three replicas stopped
// (SIGSTOP), a revocation stays Propagated=False naming "2 of 3
// token-server replicas"; it becomes True when the replica resumes, and,
// stopped again, when it times out of the set (--report-timeout=10s here).
func TestPausedReplicaHoldsPropagated(t *testing.T) {
	pid, err := signet.PID("token-server-3")
	if err != nil {
		t.Fatal(err)
	}
	resume := func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	t.Cleanup(resume)
	v := newVictim(t)
	propagated(t, v.ns, 3)

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	patchCredential(t, v.ns, `{"spec":{"revoked":true}}`)
	waitForPropagation(t, v.ns, "False, 2 of 3, while a replica is paused", func(_ *iamv1.ClientCredential, c *metav1.Condition) error {
		if c.Status != metav1.ConditionFalse || c.Message != "2 of 3 token-server replicas" {
			return fmt.Errorf("%s %q", c.Status, c.Message)
		}
		return nil
	})
	// The paused replica counts until its report times out, 10 s after
	// its last write; it is resumed before that.
	t.Logf("2 of 3 seen %s after the pause", time.Since(paused).Round(time.Millisecond))
	resume()
	cc := propagated(t, v.ns, 3)
	t.Logf("resumed: propagated to 3 replicas in %s", cc.Status.Propagation.Latency.Duration)

	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	paused = time.Now()
	patchCredential(t, v.ns, `{"spec":{"revoked":false}}`)
	cc = propagated(t, v.ns, 2)
	t.Logf("paused: Propagated with 2 replicas %s after the pause, latency %s",
		time.Since(paused).Round(time.Millisecond), cc.Status.Propagation.Latency.Duration)
	resume()
	waitFor(t, 30*time.Second, "the resumed replica reports again", func() error {
		if n := liveReports(t); n != 3 {
			return fmt.Errorf("%d live reports", n)
		}
		return nil
	})
}

// propagated waits until the ClientCredential "reporter" is Propagated for
// its current generation by replicas replicas, and returns it.
func propagated(t *testing.T, ns string, replicas int32) *iamv1.ClientCredential {
	t.Helper()
	var out *iamv1.ClientCredential
	waitForPropagation(t, ns, fmt.Sprintf("Propagated to %d replicas", replicas), func(cc *iamv1.ClientCredential, c *metav1.Condition) error {
		p := cc.Status.Propagation
		if c.Status != metav1.ConditionTrue || p == nil || p.Replicas != replicas || p.Applied != replicas || p.Latency == nil {
			return fmt.Errorf("%s %q, %+v", c.Status, c.Message, p)
		}
		out = cc
		return nil
	})
	return out
}

// waitForPropagation waits until check passes on the ClientCredential
// "reporter" and its Propagated condition for the current generation.
func waitForPropagation(t *testing.T, ns, what string, check func(*iamv1.ClientCredential, *metav1.Condition) error) {
	t.Helper()
	waitFor(t, 30*time.Second, what, func() error {
		cc := &iamv1.ClientCredential{}
		if err := signet.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "reporter"}, cc); err != nil {
			return err
		}
		c := meta.FindStatusCondition(cc.Status.Conditions, iamv1.PropagatedCondition)
		if c == nil || c.ObservedGeneration != cc.Generation {
			return fmt.Errorf("no Propagated condition for generation %d", cc.Generation)
		}
		return check(cc, c)
	})
}

func patchCredential(t *testing.T, ns, patch string) {
	t.Helper()
	kubectl(t, "patch", "-n", ns, "clientcredentials.iam.signet.dev/reporter", "--type=merge", "-p", patch)
}

// liveReports counts the replica reports that count now.
func liveReports(t *testing.T) int {
	t.Helper()
	leases := &coordinationv1.LeaseList{}
	if err := signet.Client.List(context.Background(), leases, client.InNamespace(signet.Namespace),
		client.MatchingLabels{"iam.signet.dev/component": replicareport.Component}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range leases.Items {
		if rep, err := replicareport.Decode(&leases.Items[i]); err == nil && rep.Live(time.Now()) {
			n++
		}
	}
	return n
}

func managerMetrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(signet.ManagerMetricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return string(data)
}

func grepLines(body, substr string) string {
	var out []string
	for line := range strings.Lines(body) {
		if strings.Contains(line, substr) {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return strings.Join(out, "\n")
}
