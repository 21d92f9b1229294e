package controllers

import (
	"context"
	"sync/atomic"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// TestStatusIsWrittenOnlyWhenItChanges drives the ClientCredential
// reconciler over the manager's cache and counts its status writes. Once the
// credential is Ready and the cache shows the status Signet last wrote,
// passes that change nothing write nothing. A cache that shows an older
// version of the object, even with the same status, gets the write: the
// server may hold something newer.
func TestStatusIsWrittenOnlyWhenItChanges(t *testing.T) {
	h := newHarness(t, true)
	g := h.g
	mgr, cached, created := h.credentialWithoutController()

	var (
		statusWrites atomic.Int32
		stale        *iamv1.ClientCredential // read instead of the cached credential when set
	)
	c := interceptor.NewClient(withWatch{cached}, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if cc, ok := obj.(*iamv1.ClientCredential); ok && stale != nil {
				stale.DeepCopyInto(cc)
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
		SubResourceApply: func(ctx context.Context, c client.Client, sub string, obj runtime.ApplyConfiguration, opts ...client.SubResourceApplyOption) error {
			statusWrites.Add(1)
			return c.SubResource(sub).Apply(ctx, obj, opts...)
		},
	})
	r := &ClientCredentialReconciler{Client: c, APIReader: mgr.GetAPIReader(), Clock: h.clock, Options: h.options()}
	pass := func() {
		t.Helper()
		_, err := r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key("svc")})
		g.Expect(err).NotTo(HaveOccurred())
	}

	cc := &iamv1.ClientCredential{}
	g.Eventually(func(g Gomega) {
		pass()
		g.Expect(cached.Get(h.ctx, h.key("svc"), cc)).To(Succeed())
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionTrue, "")
		written, _ := r.statusWrites.versions.Load(h.key("svc"))
		g.Expect(cc.ResourceVersion).To(Equal(written), "the cache has not seen the last status write yet")
	}).Should(Succeed())

	before := statusWrites.Load()
	pass()
	pass()
	g.Expect(statusWrites.Load()).To(Equal(before), "passes that changed nothing wrote the status")

	stale = cc.DeepCopy()
	stale.ResourceVersion = created.ResourceVersion
	pass()
	g.Expect(statusWrites.Load()).To(Equal(before+1), "a pass over an older object must write its status")
}
