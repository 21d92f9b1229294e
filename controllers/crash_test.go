package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/testenv"
)

// withWatch lets the manager's cached client go through the interceptor,
// which wants a client.WithWatch; the reconciler never watches through it.
type withWatch struct{ client.Client }

func (withWatch) Watch(context.Context, client.ObjectList, ...client.ListOption) (watch.Interface, error) {
	return nil, errors.New("not supported")
}

var errCrash = errors.New("injected crash")

// TestACrashBetweenWritesConvergesToOneSecret makes one write of a reconcile
// fail, as if the manager died right there, then runs the reconcile again
// with a healthy client. Whatever the point of failure, the result is one
// secret that works: none lost (the workload Secret's secret is the one the
// record accepts) and never two (a secret the record never accepted is
// replaced, as a lost record is rebuilt fail-closed, and stays refused;
// one it accepted is kept).
func TestACrashBetweenWritesConvergesToOneSecret(t *testing.T) {
	isRecordApply := func(ns string) func(runtime.ApplyConfiguration) bool {
		return func(obj runtime.ApplyConfiguration) bool {
			ac, ok := obj.(*corev1ac.SecretApplyConfiguration)
			return ok && *ac.Namespace == ns
		}
	}
	isWorkloadApply := func(ns string) func(runtime.ApplyConfiguration) bool {
		return func(obj runtime.ApplyConfiguration) bool {
			ac, ok := obj.(*corev1ac.SecretApplyConfiguration)
			return ok && *ac.Namespace == ns
		}
	}
	tests := map[string]struct {
		failApply       func(h *harness) func(runtime.ApplyConfiguration) bool
		failStatus      bool
		workloadWritten bool
		// kept is set when the written secret must survive the retry.
		kept bool
	}{
		"the workload Secret write fails": {
			failApply: func(h *harness) func(runtime.ApplyConfiguration) bool { return isWorkloadApply(h.ns) },
		},
		"the record write fails after the workload Secret was written": {
			failApply:       func(h *harness) func(runtime.ApplyConfiguration) bool { return isRecordApply(h.signetNS) },
			workloadWritten: true,
		},
		"the status write fails after both Secrets were written": {
			failStatus:      true,
			workloadWritten: true,
			kept:            true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, true)
			g := h.g
			mgr, healthy, cc := h.credentialWithoutController()

			funcs := interceptor.Funcs{}
			if tc.failApply != nil {
				match := tc.failApply(h)
				funcs.Apply = func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
					if match(obj) {
						return errCrash
					}
					return c.Apply(ctx, obj, opts...)
				}
			}
			if tc.failStatus {
				funcs.SubResourceApply = func(context.Context, client.Client, string, runtime.ApplyConfiguration, ...client.SubResourceApplyOption) error {
					return errCrash
				}
			}
			reconcileWith := func(c client.Client) error {
				r := &ClientCredentialReconciler{Client: c, APIReader: mgr.GetAPIReader(), Clock: h.clock, Options: h.options()}
				_, err := r.Reconcile(h.ctx, ctrl.Request{NamespacedName: h.key("svc")})
				return err
			}
			g.Eventually(func() error { return reconcileWith(interceptor.NewClient(withWatch{healthy}, funcs)) }).
				Should(HaveOccurred(), "the injected failure must fail the reconcile")

			var written string
			ws := &corev1.Secret{}
			if err := k8s.Get(h.ctx, h.key("svc"), ws); err == nil {
				written = string(ws.Data[keyClientSecret])
			}
			g.Expect(written != "").To(Equal(tc.workloadWritten), "workload Secret written before the crash")

			g.Eventually(func(g Gomega) {
				g.Expect(reconcileWith(healthy)).To(Succeed())
				g.Expect(k8s.Get(h.ctx, h.key("svc"), cc)).To(Succeed())
				g.Expect(cc.Status.ClientID).NotTo(BeEmpty())
				final := string(h.workloadSecret(cc).Data[keyClientSecret])
				if tc.kept {
					g.Expect(final).To(Equal(written), "the retry issued a second secret")
				}
				rec := h.record(g, cc)
				g.Expect(rec.Secrets).To(HaveLen(1))
				g.Expect(h.accepts(rec, final)).To(BeTrue(), "the record does not accept the secret the workload holds")
				if written != "" && written != final {
					g.Expect(h.accepts(rec, written)).To(BeFalse(), "two secrets are valid")
				}
			}).WithTimeout(10 * time.Second).Should(Succeed())
		})
	}
}

// credentialWithoutController starts a cache-only manager, creates the keys
// (running the key controller once), a ServiceAccount "svc" and a
// ClientSecret ClientCredential "svc" that no controller reconciles: the
// test drives Reconcile itself, through the returned cached client.
func (h *harness) credentialWithoutController() (ctrl.Manager, client.Client, *iamv1.ClientCredential) {
	h.t.Helper()
	mgr, cached := h.cacheOnlyManager()
	keys := &KeysReconciler{Client: cached, Namespace: h.signetNS, Clock: h.clock,
		Policy: signing.Policy{Algorithm: signing.ES256, Period: time.Hour, PublishLead: time.Minute, MaxTokenLifetime: time.Hour}}
	_, err := keys.Reconcile(h.ctx, ctrl.Request{})
	h.g.Expect(err).NotTo(HaveOccurred())
	h.create(account("svc"))
	cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
	h.create(cc)
	return mgr, cached, cc
}

// cacheOnlyManager starts a manager with the field indexes and caches but no
// controllers, so the test drives Reconcile itself.
func (h *harness) cacheOnlyManager() (ctrl.Manager, client.Client) {
	h.t.Helper()
	cacheOpts := CacheOptions(h.signetNS)
	cacheOpts.DefaultNamespaces = map[string]cache.Config{h.ns: {}, h.signetNS: {}}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  testenv.Scheme(),
		Cache:   cacheOpts,
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	h.g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	h.g.Expect(registerIndexes(ctx, mgr)).To(Succeed())
	go func() { _ = mgr.Start(ctx) }()
	h.t.Cleanup(cancel)
	h.g.Expect(mgr.GetCache().WaitForCacheSync(ctx)).To(BeTrue())
	return mgr, mgr.GetClient()
}
