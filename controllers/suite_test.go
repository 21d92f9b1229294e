package controllers

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/testenv"
)

// The integration tests share one real API server. Each test gets its own
// tenant namespace, its own Signet namespace and its own manager, so tests
// never see each other's objects, keys or clock.
var (
	env *testenv.Environment
	k8s client.Client
)

func TestMain(m *testing.M) {
	// Each manager logs to its harness; the global logger only catches
	// client-go's own chatter.
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	os.Exit(testenv.Run(m, func(e *testenv.Environment) (err error) {
		env = e
		k8s, err = client.New(env.Config, client.Options{Scheme: testenv.Scheme()})
		return err
	}))
}

// offsetClock is the real clock plus an offset tests can move forward.
type offsetClock struct{ offset atomic.Int64 }

func (c *offsetClock) Now() time.Time                  { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *offsetClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }
func (c *offsetClock) advance(d time.Duration)         { c.offset.Add(int64(d)) }

// syncBuffer collects a manager's log output for the leak checks.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// harness is one test's slice of the cluster and the manager serving it.
type harness struct {
	t        *testing.T
	g        Gomega
	ctx      context.Context
	ns       string
	signetNS string
	clock    *offsetClock
	logs     *syncBuffer
	stop     func()
}

const testIssuer = "https://signet.test"

func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// newHarness creates the namespaces and, unless noManager, starts a manager
// with every Signet controller.
func newHarness(t *testing.T, noManager ...bool) *harness {
	t.Helper()
	h := &harness{t: t, g: NewWithT(t), ctx: context.Background(), clock: &offsetClock{}, logs: &syncBuffer{}}
	h.ns = newNamespace(t, "tenant-")
	h.signetNS = newNamespace(t, "signet-")
	if len(noManager) == 0 || !noManager[0] {
		h.startManager()
	}
	return h
}

func (h *harness) options() Options {
	return Options{
		SignetNamespace:         h.signetNS,
		Issuer:                  testIssuer,
		SigningAlgorithm:        "ES256",
		SigningKeyRotation:      30 * 24 * time.Hour,
		SigningKeyPublishLead:   time.Hour,
		MaxConcurrentReconciles: 2,
		Clock:                   h.clock,
	}
}

func (h *harness) startManager() { h.startManagerAs(env.Config, false) }

// startManagerAs starts the manager with cfg's identity, optionally with
// leader election on a Lease in the Signet namespace.
func (h *harness) startManagerAs(cfg *rest.Config, leaderElect bool) {
	h.t.Helper()
	cacheOpts := CacheOptions(h.signetNS)
	cacheOpts.DefaultNamespaces = map[string]cache.Config{h.ns: {}, h.signetNS: {}}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  testenv.Scheme(),
		Cache:                   cacheOpts,
		Metrics:                 metricsserver.Options{BindAddress: "0"},
		Logger:                  zap.New(zap.WriteTo(h.logs), zap.UseDevMode(true)),
		Controller:              config.Controller{SkipNameValidation: ptrTo(true)},
		LeaderElection:          leaderElect,
		LeaderElectionID:        "manager.iam.signet.dev",
		LeaderElectionNamespace: h.signetNS,
	})
	h.g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	h.g.Expect(Setup(ctx, mgr, h.options())).To(Succeed())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	h.stop = func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("manager: %v", err)
		}
	}
	h.t.Cleanup(h.stop)
}

func ptrTo[T any](v T) *T { return &v }

func (h *harness) key(name string) types.NamespacedName {
	return types.NamespacedName{Namespace: h.ns, Name: name}
}

func (h *harness) create(obj client.Object) {
	h.t.Helper()
	obj.SetNamespace(h.ns)
	h.g.Expect(k8s.Create(h.ctx, obj)).To(Succeed())
}

// update re-reads obj, applies mutate and writes it, retrying conflicts
// with the controllers.
func update[T client.Object](h *harness, obj T, mutate func(T)) {
	h.t.Helper()
	h.g.Eventually(func() error {
		if err := k8s.Get(h.ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return k8s.Update(h.ctx, obj)
	}).Should(Succeed())
}

// poke asks for a reconcile, as a person would after moving the clock: the
// explicit-request annotation passes the controllers' predicates.
func (h *harness) poke(obj client.Object) {
	h.t.Helper()
	update(h, obj, func(o client.Object) {
		a := o.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		a["iam.signet.dev/reconcile-requested-at"] = time.Now().Format(time.RFC3339Nano)
		o.SetAnnotations(a)
	})
}

func account(name string) *iamv1.ServiceAccount {
	return &iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func rule(name string, subjects []string, scopes ...string) *iamv1.AccessRule {
	r := &iamv1.AccessRule{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, s := range subjects {
		r.Spec.Subjects = append(r.Spec.Subjects, iamv1.Subject{Kind: "ServiceAccount", Name: s})
	}
	r.Spec.Scopes = scopes
	return r
}

func clientCredential(name, sa string, typ iamv1.CredentialType) *iamv1.ClientCredential {
	return &iamv1.ClientCredential{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       iamv1.ClientCredentialSpec{ServiceAccountName: sa, Type: typ},
	}
}

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

// waitFor polls the credential until check passes.
func (h *harness) waitFor(cc *iamv1.ClientCredential, check func(g Gomega, cc *iamv1.ClientCredential)) {
	h.t.Helper()
	h.g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(h.ctx, client.ObjectKeyFromObject(cc), cc)).To(Succeed())
		check(g, cc)
	}).WithTimeout(20 * time.Second).WithPolling(50 * time.Millisecond).Should(Succeed())
}

func condOf(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// haveCondition matches a condition list holding type t with status and reason.
func expectCondition(g Gomega, conds []metav1.Condition, t string, status metav1.ConditionStatus, reason string) {
	c := condOf(conds, t)
	g.Expect(c).NotTo(BeNil(), "condition %s missing", t)
	g.Expect(c.Status).To(Equal(status), "condition %s: %s", t, c.Message)
	if reason != "" {
		g.Expect(c.Reason).To(Equal(reason), "condition %s: %s", t, c.Message)
	}
}

// waitReady waits until the credential is Ready and observed.
func (h *harness) waitReady(cc *iamv1.ClientCredential) {
	h.t.Helper()
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		g.Expect(cc.Status.ObservedGeneration).To(Equal(cc.Generation))
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionTrue, "")
	})
}

func (h *harness) workloadSecret(cc *iamv1.ClientCredential) *corev1.Secret {
	h.t.Helper()
	s := &corev1.Secret{}
	h.g.Expect(k8s.Get(h.ctx, h.key(workloadSecretName(cc)), s)).To(Succeed())
	return s
}

// record reads and parses the credential record of cc.
func (h *harness) record(g Gomega, cc *iamv1.ClientCredential) *record.Record {
	_, rec := h.storedRecordOf(g, cc.Status.ClientID)
	g.Expect(rec).NotTo(BeNil(), "no credential record for client_id %s", cc.Status.ClientID)
	return rec
}

func (h *harness) hasher() *credential.Hasher {
	h.t.Helper()
	s := &corev1.Secret{}
	h.g.Eventually(func() error {
		return k8s.Get(h.ctx, types.NamespacedName{Namespace: h.signetNS, Name: record.HashKeySecretName}, s)
	}).Should(Succeed())
	hasher, err := record.HasherFromSecret(s.Data)
	h.g.Expect(err).NotTo(HaveOccurred())
	return hasher
}

// accepts reports whether the record accepts secret now.
func (h *harness) accepts(rec *record.Record, secret string) bool {
	hasher := h.hasher()
	for _, s := range rec.AcceptedSecrets(h.clock.Now()) {
		if ok, _ := hasher.Verify(credential.SecretDomain, secret, s.Hash); ok {
			return true
		}
	}
	return false
}

// events lists the Events regarding objects in the tenant namespace.
func (h *harness) eventReasons() []string {
	h.t.Helper()
	list := &eventsv1.EventList{}
	h.g.Expect(k8s.List(h.ctx, list, client.InNamespace(h.ns))).To(Succeed())
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason+": "+e.Note)
	}
	return out
}

func containsAny(haystack string, needles ...string) string {
	for _, n := range needles {
		if n != "" && strings.Contains(haystack, n) {
			return n
		}
	}
	return ""
}

// readyCredential creates a ServiceAccount and a ClientCredential, both
// named name, and waits until the credential is Ready.
func (h *harness) readyCredential(name string, typ iamv1.CredentialType, mutate func(*iamv1.ClientCredential)) *iamv1.ClientCredential {
	h.t.Helper()
	h.create(account(name))
	cc := clientCredential(name, name, typ)
	if mutate != nil {
		mutate(cc)
	}
	h.create(cc)
	h.waitReady(cc)
	return cc
}

// deployment is a minimal Deployment named "api", as a rollout restart target.
func deployment() *appsv1.Deployment {
	const name = "api"
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "example/" + name}}},
			},
		},
	}
}
