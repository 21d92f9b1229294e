package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// TestStatusOwnsOnlySignetsConditions shows that the ClientCredential status
// is written with server-side apply by its own field manager: a condition
// another field manager adds survives later reconciles, and Ready keeps its
// lastTransitionTime across a reconcile that leaves it True.
func TestStatusOwnsOnlySignetsConditions(t *testing.T) {
	h := newHarness(t)
	cc := h.readyCredential("svc", iamv1.APIKeyType, nil)
	g := h.g
	readySince := condOf(cc.Status.Conditions, iamv1.ReadyCondition).LastTransitionTime

	// Another actor, a policy engine say, adds its own condition.
	foreign := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{
		"conditions": []any{map[string]any{
			"type": "example.com/Audited", "status": "True", "reason": "Audited", "message": "checked",
			"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		}},
	}}}
	foreign.SetGroupVersionKind(iamv1.GroupVersion.WithKind("ClientCredential"))
	foreign.SetNamespace(h.ns)
	foreign.SetName(cc.Name)
	g.Expect(k8s.Status().Apply(h.ctx, client.ApplyConfigurationFromUnstructured(foreign), client.FieldOwner("example-auditor"))).To(Succeed())

	// lastTransitionTime keeps whole seconds: let one pass, so a rewritten
	// Ready would show.
	g.Eventually(func() bool { return time.Now().After(readySince.Add(time.Second)) }).
		WithTimeout(3 * time.Second).WithPolling(50 * time.Millisecond).Should(BeTrue())

	// A spec change that leaves the credential Ready: the pass must be seen
	// to run (observedGeneration moves) and must leave both conditions.
	update(h, cc, func(cc *iamv1.ClientCredential) { cc.Spec.AccessTokenLifetime = duration(5 * time.Minute) })
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		g.Expect(cc.Status.ObservedGeneration).To(Equal(cc.Generation))
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionTrue, "")
	})
	g.Expect(condOf(cc.Status.Conditions, iamv1.ReadyCondition).LastTransitionTime).To(Equal(readySince),
		"Ready did not change, so neither does its lastTransitionTime")
	expectCondition(g, cc.Status.Conditions, "example.com/Audited", metav1.ConditionTrue, "Audited")
	managers := statusManagers(cc)
	g.Expect(managers).To(HaveKey("example-auditor"))
	g.Expect(managers).To(HaveKey("signet-clientcredential"))
	g.Expect(managers["signet-clientcredential"]).To(ContainSubstring(iamv1.ReadyCondition))
	g.Expect(managers["signet-clientcredential"]).NotTo(ContainSubstring("example.com/Audited"),
		"Signet never takes ownership of a condition it does not decide")
}

// TestStatusWrittenByAnEarlierSignetIsTakenOver: a status an earlier
// Signet wrote with a merge patch, under its binary's name, is moved to the
// status field manager at the next pass, so a condition Signet no longer
// sets is removed instead of lingering, co-owned, for ever.
func TestStatusWrittenByAnEarlierSignetIsTakenOver(t *testing.T) {
	h := newHarness(t)
	cc := h.readyCredential("svc", iamv1.APIKeyType, nil)
	g := h.g
	// An earlier Signet knew no Propagated condition: patch over a status
	// where it has settled (no token server reports here), so that the
	// merge patch below leaves it as the propagation controller wrote it.
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.PropagatedCondition, metav1.ConditionFalse, iamv1.NoReplicasReason)
	})

	base := cc.DeepCopy()
	meta.SetStatusCondition(&cc.Status.Conditions, metav1.Condition{Type: iamv1.StalledCondition, Status: metav1.ConditionTrue,
		Reason: "SecretNameConflict", Message: "left over from an earlier release", ObservedGeneration: cc.Generation})
	g.Expect(k8s.Status().Patch(h.ctx, cc, client.MergeFrom(base), client.FieldOwner("manager"))).To(Succeed())
	g.Expect(condOf(cc.Status.Conditions, iamv1.StalledCondition)).NotTo(BeNil())

	h.poke(cc)
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		g.Expect(condOf(cc.Status.Conditions, iamv1.StalledCondition)).To(BeNil(), "the stale condition lingers")
		for _, f := range cc.ManagedFields {
			g.Expect(f.Subresource == "status" && f.Manager == "manager").To(BeFalse(), "the earlier manager still owns status fields")
		}
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionTrue, "")
	})
}

// statusManagers maps each field manager that applied to the status
// subresource to the fields it owns.
func statusManagers(obj client.Object) map[string]string {
	m := map[string]string{}
	for _, f := range obj.GetManagedFields() {
		if f.Subresource == "status" && f.Operation == metav1.ManagedFieldsOperationApply && f.FieldsV1 != nil {
			m[f.Manager] = f.FieldsV1.GetRawString()
		}
	}
	return m
}
