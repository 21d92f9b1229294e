//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

const consumerManifest = `apiVersion: iam.signet.dev/v1alpha1
kind: ServiceAccount
metadata: {name: consumer}
spec: {description: "Moves to a rotated secret at its own pace"}
---
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: consumer}
spec:
  serviceAccountName: consumer
  rotation:
    gracePeriod: 1h
    trigger: v1
    retirement: {policy: WhenUnused, unusedFor: 1m}
`

// TestPreviousSecretRetiresWhenUnused runs "rotation that waits for its
// consumers" through the real token-server replicas: a client using the
// previous secret on every replica shows up in PreviousSecretInUse with its
// address, and once it stops, the previous secret retires a minute later,
// well before the hour of grace, and every replica refuses it.
func TestPreviousSecretRetiresWhenUnused(t *testing.T) {
	ns := namespace(t, "e2e-retire-")
	applyManifest(t, ns, consumerManifest)
	old := workloadSecret(t, ns, "consumer", "client_secret")
	kubectl(t, "patch", "-n", ns, "clientcredentials.iam.signet.dev/consumer", "--type=merge", "-p", `{"spec":{"rotation":{"trigger":"v2"}}}`)
	waitFor(t, 30*time.Second, "the rotated secret", func() error {
		if workloadSecret(t, ns, "consumer", "client_secret")["client_secret"] == old["client_secret"] {
			return fmt.Errorf("not rotated yet")
		}
		return nil
	})

	// Until a replica has applied the rotation, the old secret is still
	// its current one, and using it is no use of a previous secret: wait
	// until every replica has applied it.
	cc := &iamv1.ClientCredential{}
	get := func() error {
		return signet.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "consumer"}, cc)
	}
	waitFor(t, 30*time.Second, "the rotation Propagated to every replica", func() error {
		if err := get(); err != nil {
			return err
		}
		c := meta.FindStatusCondition(cc.Status.Conditions, iamv1.PropagatedCondition)
		if c == nil || c.Status != metav1.ConditionTrue || c.ObservedGeneration != cc.Generation {
			return fmt.Errorf("condition %+v at generation %d", c, cc.Generation)
		}
		return nil
	})

	// The stale consumer asks every replica with the previous secret.
	for _, base := range signet.Replicas {
		waitFor(t, 10*time.Second, "a token for the previous secret from "+base, func() error { _, err := tokenAt(base, old); return err })
	}
	lastUse := time.Now()
	waitFor(t, 30*time.Second, "PreviousSecretInUse naming the consumer", func() error {
		if err := get(); err != nil {
			return err
		}
		c := meta.FindStatusCondition(cc.Status.Conditions, iamv1.PreviousSecretInUseCondition)
		if c == nil || c.Reason != iamv1.InUseReason || !strings.Contains(c.Message, "from 127.0.0.1") {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})

	// It stops: after unusedFor, and every replica's next report, the
	// previous secret retires.
	waitFor(t, 2*time.Minute, "the previous secret retired as unused", func() error {
		if err := get(); err != nil {
			return err
		}
		if r := cc.Status.PreviousSecretRetirement; r == nil || r.Reason != iamv1.UnusedReason {
			return fmt.Errorf("retirement %+v", r)
		}
		return nil
	})
	r := cc.Status.PreviousSecretRetirement
	t.Logf("retired %s after the last use (unusedFor 1m): %s", r.RetiredAt.Sub(lastUse).Round(time.Second), r.Message)
	if r.RetiredAt.Time.Before(lastUse.Add(time.Minute - time.Second)) {
		t.Errorf("retired at %s, less than unusedFor after the last use at %s", r.RetiredAt, lastUse)
	}
	if !strings.Contains(r.Message, "3 reporting") {
		t.Errorf("retirement message %q does not count the three replicas", r.Message)
	}
	if meta.FindStatusCondition(cc.Status.Conditions, iamv1.PreviousSecretInUseCondition) != nil {
		t.Error("PreviousSecretInUse is still present after the retirement")
	}
	for _, base := range signet.Replicas {
		waitFor(t, 10*time.Second, base+" refuses the retired secret", func() error {
			if _, err := tokenAt(base, old); err == nil {
				return fmt.Errorf("accepted")
			}
			return nil
		})
	}
	if _, err := tokenFor(workloadSecret(t, ns, "consumer", "client_secret")); err != nil {
		t.Errorf("the current secret: %v", err)
	}
}
