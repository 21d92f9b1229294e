package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/replicareport"
)

// retirementCredential is a Ready client-secret credential with policy
// WhenUnused, its old secret, and the client_id its uses are reported
// under, after one rotation.
func retirementCredential(h *harness, name string, grace, unusedFor time.Duration, targets ...string) (cc *iamv1.ClientCredential, old string) {
	h.t.Helper()
	cc = h.readyCredential(name, iamv1.ClientSecretType, func(c *iamv1.ClientCredential) {
		c.Spec.Rotation = &iamv1.RotationSpec{GracePeriod: duration(grace),
			Retirement: &iamv1.RetirementSpec{Policy: iamv1.RetireWhenUnused, UnusedFor: duration(unusedFor)}}
		for _, t := range targets {
			c.Spec.RolloutRestartTargets = append(c.Spec.RolloutRestartTargets, iamv1.RolloutRestartTarget{Kind: "Deployment", Name: t})
		}
	})
	old = string(h.workloadSecret(cc).Data[keyClientSecret])
	update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "v2" })
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		g.Expect(string(h.workloadSecret(cc).Data[keyClientSecret])).NotTo(Equal(old))
		g.Expect(cc.Status.PreviousSecretValidUntil).NotTo(BeNil())
		g.Expect(h.accepts(h.record(g, cc), old)).To(BeTrue(), "the previous secret must be in grace")
	})
	return cc, old
}

// used reports, from replica "a", that the previous secret of cc was last
// used at the manager's current time from addr (or at lastUse, when set).
func (h *harness) used(cc *iamv1.ClientCredential, at time.Time, addr string) {
	h.t.Helper()
	uses := map[string]replicareport.Use{}
	if !at.IsZero() {
		uses[cc.Status.ClientID] = replicareport.Use{At: at.Truncate(time.Second), Address: addr}
	}
	h.writeReport(replicareport.Report{Replica: "a", Timeout: time.Minute, Uses: uses})
}

func TestWhenUnusedRetiresOnceConsumersMoved(t *testing.T) {
	h := newHarness(t)
	dep := deployment()
	h.create(dep)
	h.used(&iamv1.ClientCredential{}, time.Time{}, "")
	cc, old := retirementCredential(h, "moving", time.Hour, time.Minute, "api")
	g := h.g

	// A consumer keeps using the previous secret: it stays, and the
	// condition names where it is used from.
	for range 3 {
		h.used(cc, h.clock.Now(), "10.1.2.3")
		h.poke(cc)
		h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
			c := condOf(cc.Status.Conditions, iamv1.PreviousSecretInUseCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(iamv1.InUseReason))
			g.Expect(c.Message).To(ContainSubstring("from 10.1.2.3"))
			g.Expect(h.accepts(h.record(g, cc), old)).To(BeTrue())
		})
		h.clock.advance(50 * time.Second)
	}
	lastUse := h.clock.Now().Add(-50 * time.Second)

	// The consumer stopped two minutes ago, but the Deployment that reads
	// the secret has not finished its rollout: the secret waits for it.
	h.clock.advance(2 * time.Minute)
	h.used(cc, lastUse, "10.1.2.3")
	h.poke(cc)
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		g.Expect(condOf(cc.Status.Conditions, iamv1.PreviousSecretInUseCondition)).To(BeNil(), "no use within unusedFor")
	})
	g.Consistently(func(g Gomega) {
		g.Expect(k8s.Get(h.ctx, h.key(cc.Name), cc)).To(Succeed())
		g.Expect(h.accepts(h.record(g, cc), old)).To(BeTrue(), "retired before the rollout finished")
		g.Expect(cc.Status.PreviousSecretRetirement).To(BeNil())
	}).WithTimeout(3 * time.Second).Should(Succeed())

	// The rollout finishes (the local control plane runs no Deployment
	// controller, so the test writes the status one would).
	g.Expect(k8s.Get(h.ctx, h.key("api"), dep)).To(Succeed())
	g.Expect(dep.Spec.Template.Annotations).To(HaveKey(annRestartedAt), "the rotation must have restarted the Deployment")
	completeRollout(h, dep)
	h.poke(cc)
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		g.Expect(h.accepts(h.record(g, cc), old)).To(BeFalse(), "the previous secret must retire once unused and rolled out")
		r := cc.Status.PreviousSecretRetirement
		g.Expect(r).NotTo(BeNil())
		g.Expect(r.Reason).To(Equal(iamv1.UnusedReason))
		g.Expect(r.Message).To(And(ContainSubstring("10.1.2.3"), ContainSubstring("Deployment api rolled out")))
		g.Expect(r.RetiredAt.Time).To(BeTemporally("<", cc.Status.LastRotationTime.Add(time.Hour)), "well before the deadline")
		g.Expect(cc.Status.PreviousSecretValidUntil).To(BeNil())
	})
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.UnusedReason + ": Retired the previous secret")))
}

func TestWhenUnusedWarnsAndHoldsToTheDeadline(t *testing.T) {
	h := newHarness(t)
	h.used(&iamv1.ClientCredential{}, time.Time{}, "")
	cc, old := retirementCredential(h, "stale", 10*time.Minute, time.Minute)
	g := h.g

	// A stale consumer never moves: the secret stays until the deadline,
	// and in its last minute the condition turns into a Warning.
	for _, step := range []struct {
		at     time.Duration
		reason string
	}{{3 * time.Minute, iamv1.InUseReason}, {6 * time.Minute, iamv1.InUseReason}, {9*time.Minute + 10*time.Second, iamv1.DeadlineNearReason}} {
		h.clock.advance(step.at - h.clock.Since(cc.Status.LastRotationTime.Time))
		h.used(cc, h.clock.Now(), "10.9.9.9")
		h.poke(cc)
		h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
			g.Expect(h.accepts(h.record(g, cc), old)).To(BeTrue(), "a previous secret in use must be accepted until the deadline")
			c := condOf(cc.Status.Conditions, iamv1.PreviousSecretInUseCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(step.reason))
			g.Expect(c.Message).To(ContainSubstring("from 10.9.9.9"))
		})
	}
	g.Eventually(h.eventReasons).Should(ContainElement(And(HavePrefix(iamv1.DeadlineNearReason+": "), ContainSubstring("10.9.9.9"))))

	// Past the deadline (10 min), but less than the report's one-minute
	// timeout after the last report: a reconcile that runs before the next
	// report is written still sees this replica, as it would with a
	// replica that reports every second.
	h.clock.advance(55 * time.Second)
	h.used(cc, h.clock.Now(), "10.9.9.9")
	h.poke(cc)
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		g.Expect(h.accepts(h.record(g, cc), old)).To(BeFalse(), "the deadline retires it even while used")
		r := cc.Status.PreviousSecretRetirement
		g.Expect(r).NotTo(BeNil())
		g.Expect(r.Reason).To(Equal(iamv1.GraceEndedReason))
		g.Expect(r.Message).To(ContainSubstring("last used"))
		g.Expect(condOf(cc.Status.Conditions, iamv1.PreviousSecretInUseCondition)).To(BeNil())
	})
}

// completeRollout writes the status the Deployment controller writes once
// every replica runs the current template.
func completeRollout(h *harness, dep *appsv1.Deployment) {
	h.t.Helper()
	h.g.Eventually(func() error {
		if err := k8s.Get(h.ctx, h.key(dep.Name), dep); err != nil {
			return err
		}
		now := metav1.Now()
		dep.Status = appsv1.DeploymentStatus{
			ObservedGeneration: dep.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", LastUpdateTime: now, LastTransitionTime: now},
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable", LastUpdateTime: now, LastTransitionTime: now},
			},
		}
		return k8s.Status().Update(h.ctx, dep)
	}).Should(Succeed())
}
