package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// kstatusOf computes the health Flux and Argo CD (through kstatus) read from
// an object as the API server holds it.
func kstatusOf(g Gomega, obj client.Object) status.Status {
	g.Expect(k8s.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: u})
	g.Expect(err).NotTo(HaveOccurred())
	return res.Status
}

// TestKstatusReadsHealthFromConditions shows that the status Signet writes is
// enough for kstatus: Current when Ready, InProgress while reconciling, and
// Failed when stalled on something only a person can fix.
func TestKstatusReadsHealthFromConditions(t *testing.T) {
	h := newHarness(t)
	g := h.g
	h.create(account("svc"))
	ready := clientCredential("ready", "svc", iamv1.ClientSecretType)
	h.create(ready)
	h.waitReady(ready)
	g.Eventually(func(g Gomega) status.Status { return kstatusOf(g, ready) }).Should(Equal(status.CurrentStatus))
	sa := account("svc")
	sa.Namespace = h.ns
	g.Eventually(func(g Gomega) status.Status { return kstatusOf(g, sa) }).Should(Equal(status.CurrentStatus))
	r := rule("r", []string{"svc"}, "x")
	h.create(r)
	g.Eventually(func(g Gomega) status.Status { return kstatusOf(g, r) }).Should(Equal(status.CurrentStatus))

	loser := clientCredential("loser", "svc", iamv1.ClientSecretType)
	loser.Spec.SecretName = "ready"
	h.create(loser)
	g.Eventually(func(g Gomega) status.Status { return kstatusOf(g, loser) }).Should(Equal(status.FailedStatus))

	// Without keys the credential reconciles but cannot finish: InProgress.
	waiting := newHarness(t, true)
	mgr, c := waiting.cacheOnlyManager()
	waiting.create(account("svc"))
	cc := clientCredential("waiting", "svc", iamv1.ClientSecretType)
	waiting.create(cc)
	rec := &ClientCredentialReconciler{Client: c, APIReader: mgr.GetAPIReader(), Clock: waiting.clock, Options: waiting.options()}
	// Reconcile until the cache has seen the new object.
	g.Eventually(func(g Gomega) {
		_, err := rec.Reconcile(waiting.ctx, ctrl.Request{NamespacedName: waiting.key("waiting")})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(kstatusOf(g, cc)).To(Equal(status.InProgressStatus))
		expectCondition(g, cc.Status.Conditions, iamv1.ReconcilingCondition, "True", iamv1.KeysNotReadyReason)
	}).Should(Succeed())
}
