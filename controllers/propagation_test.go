package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/replicareport"
)

// TestPropagatedFollowsTheReplicaReports: on the real API server, with
// three replicas' reports written as the token server writes them,
// Propagated is False and counts the replicas that applied the record
// write until all have, then True with its latency; a revocation starts
// over for the new generation; a replica whose report times out no longer
// holds it back; and the ServiceAccount is Propagated once its
// credential's record holds the account's generation everywhere.
func TestPropagatedFollowsTheReplicaReports(t *testing.T) {
	h := newHarness(t)
	cc := h.readyCredential("svc", iamv1.ClientSecretType, nil)
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.PropagatedCondition, metav1.ConditionFalse, iamv1.NoReplicasReason)
	})
	version := h.recordVersion(cc, generation(cc))
	// The replica that lags reports first: True as soon as every replica
	// reporting applied the write, so the order matters.
	h.report("c", "1", time.Minute)
	h.report("a", version, time.Minute)
	h.report("b", version, time.Minute)
	h.waitPropagation(cc, metav1.ConditionFalse, "2 of 3 token-server replicas", 3, 2)
	h.report("c", version, time.Minute)
	h.waitPropagation(cc, metav1.ConditionTrue, "", 3, 3)
	g := h.g
	g.Expect(cc.Status.Propagation.Latency).NotTo(BeNil(), "a propagated change records its latency")

	update(h, cc, func(cc *iamv1.ClientCredential) { cc.Spec.Revoked = true })
	revoked := h.recordVersion(cc, generation(cc))
	h.waitPropagation(cc, metav1.ConditionFalse, "0 of 3 token-server replicas", 3, 0)
	// c stops reporting: its last report counts for four more seconds.
	h.report("c", version, 4*time.Second)
	h.report("a", revoked, time.Minute)
	h.report("b", revoked, time.Minute)
	h.waitPropagation(cc, metav1.ConditionFalse, "2 of 3 token-server replicas", 3, 2)
	h.waitPropagation(cc, metav1.ConditionTrue, "", 2, 2)
	g.Expect(condOf(cc.Status.Conditions, iamv1.PropagatedCondition).ObservedGeneration).To(Equal(cc.Generation))

	// The account: a change of its spec is propagated once its
	// credential's record holds the account's new generation everywhere.
	sa := &iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "svc"}}
	update(h, sa, func(sa *iamv1.ServiceAccount) { sa.Spec.Description = "changed" })
	waitAccount := func(status metav1.ConditionStatus, message string) {
		g.Eventually(func(g Gomega) {
			g.Expect(k8s.Get(h.ctx, client.ObjectKeyFromObject(sa), sa)).To(Succeed())
			c := condOf(sa.Status.Conditions, iamv1.PropagatedCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect([]any{c.ObservedGeneration, c.Status, c.Message}).To(Equal([]any{sa.Generation, status, message}))
		}).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
	}
	account := h.recordVersion(cc, func(rec *record.Record) bool { return rec.AccountGeneration == sa.Generation })
	waitAccount(metav1.ConditionFalse, "0 of 2 token-server replicas")
	h.report("a", account, time.Minute)
	h.report("b", account, time.Minute)
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(h.ctx, client.ObjectKeyFromObject(sa), sa)).To(Succeed())
		expectCondition(g, sa.Status.Conditions, iamv1.PropagatedCondition, metav1.ConditionTrue, iamv1.PropagatedReason)
		g.Expect(sa.Status.Propagation).NotTo(BeNil())
		g.Expect([]int32{sa.Status.Propagation.Replicas, sa.Status.Propagation.Applied}).To(Equal([]int32{2, 2}))
	}).WithTimeout(20 * time.Second).Should(Succeed())
}

// recordVersion waits until the credential's record satisfies holds and
// returns the resourceVersion of its Secret.
func (h *harness) recordVersion(cc *iamv1.ClientCredential, holds func(*record.Record) bool) string {
	h.t.Helper()
	var version string
	h.g.Eventually(func(g Gomega) {
		s, rec := h.storedRecordOf(g, cc.Status.ClientID)
		g.Expect(rec).NotTo(BeNil())
		g.Expect(holds(rec)).To(BeTrue(), "record of generation %d, account generation %d", rec.Generation, rec.AccountGeneration)
		g.Expect(rec.ChangedAt).NotTo(BeNil())
		version = s.ResourceVersion
	}).WithTimeout(20 * time.Second).Should(Succeed())
	return version
}

// generation holds for a record of cc's current generation.
func generation(cc *iamv1.ClientCredential) func(*record.Record) bool {
	return func(rec *record.Record) bool { return rec.Generation == cc.Generation }
}

// report writes replica's report Lease, renewed now, as the token server
// does.
func (h *harness) report(replica, applied string, timeout time.Duration) {
	h.t.Helper()
	h.writeReport(replicareport.Report{Replica: replica, AppliedVersion: applied, Timeout: timeout})
}

// writeReport writes rep as its replica's report Lease, renewed at the
// manager's time, as the token server does.
func (h *harness) writeReport(rep replicareport.Report) {
	h.t.Helper()
	rep.RenewTime = h.clock.Now()
	want := rep.Lease(h.signetNS)
	h.g.Eventually(func() error {
		err := k8s.Create(h.ctx, want.DeepCopy())
		if !apierrors.IsAlreadyExists(err) {
			return err
		}
		cur := want.DeepCopy()
		if err := k8s.Get(h.ctx, client.ObjectKeyFromObject(want), cur); err != nil {
			return err
		}
		cur.Annotations, cur.Spec = want.Annotations, want.Spec
		return k8s.Update(h.ctx, cur)
	}).Should(Succeed())
}

// waitPropagation waits for cc's Propagated condition for its generation
// with status, message (any when empty) and counts.
func (h *harness) waitPropagation(cc *iamv1.ClientCredential, status metav1.ConditionStatus, message string, replicas, applied int32) {
	h.t.Helper()
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		c := condOf(cc.Status.Conditions, iamv1.PropagatedCondition)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.ObservedGeneration).To(Equal(cc.Generation))
		g.Expect(c.Status).To(Equal(status), c.Message)
		if message != "" {
			g.Expect(c.Message).To(Equal(message))
		}
		g.Expect(cc.Status.Propagation).NotTo(BeNil())
		g.Expect([]int32{cc.Status.Propagation.Replicas, cc.Status.Propagation.Applied}).To(Equal([]int32{replicas, applied}))
	})
}
