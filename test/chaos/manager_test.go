//go:build chaos

package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/testutil"
)

var managers = []string{"manager", "manager-2"}

// TestManagerKilled kills the leading manager with SIGKILL -chaos.kills
// times, at random moments, while -chaos.credentials ClientCredentials are
// created, rotated and deleted; the killed one is restarted (supervise) and
// comes back as the standby.
// Each time another manager (the standby, or the killed one restarted at
// once) must take the Lease within -chaos.takeover-target. At the end nothing is lost or doubled: every
// ClientCredential is Ready, its workload Secret's secret gets a token from
// both replicas, and every credential record belongs to exactly one
// existing ClientCredential.
func TestManagerKilled(t *testing.T) {
	ctx := context.Background()
	ns := namespace(t, "chaos-manager-")
	for _, obj := range []client.Object{
		&iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}},
		&iamv1.AccessRule{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns}, Spec: iamv1.AccessRuleSpec{
			Subjects: []iamv1.Subject{{Kind: "ServiceAccount", Name: "app"}}, Scopes: []string{"orders:read"}}},
	} {
		if err := signet.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	w := &workload{ns: ns, exists: make([]bool, *credentials)}
	for i := range *credentials {
		w.create(t, i)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.churn(t, stop) }()
	var once sync.Once
	stopChurn := func() { once.Do(func() { close(stop); wg.Wait() }) }
	t.Cleanup(stopChurn) // also when a kill fails the test

	bound := *takeoverTarget
	var worst, total time.Duration
	for k := range *kills {
		leader := waitLeader(t)
		holder := leaseHolder(t)
		// A random moment of the leader's work.
		time.Sleep(rand.N(2 * *retryPeriod))
		if err := signet.Kill(leader); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		// The supervisor restarts the killed manager at once: either it or
		// the standby may take the Lease, as in a cluster.
		testutil.WaitFor(t, 2**leaseDuration+30*time.Second, "another manager takes the Lease", func() error {
			if h := leaseHolder(t); h == holder || h == "" {
				return fmt.Errorf("still held by %q", h)
			}
			return nil
		})
		took := time.Since(killed)
		next := waitLeader(t)
		total += took
		worst = max(worst, took)
		if took > bound {
			t.Errorf("kill %d: the standby took the Lease after %v, want at most %v", k+1, took, bound)
		}
		t.Logf("kill %d: %s killed, the Lease changed hands after %v; %s leads", k+1, leader, took.Round(10*time.Millisecond), next)
	}
	stopChurn()
	w.mu.Lock()
	ops := w.ops
	w.mu.Unlock()
	result(t, "%d kills of the leader; %d create/rotate/delete operations on %d ClientCredentials meanwhile; standby took the Lease in %v on average, %v at worst (lease duration %v, retry period %v)",
		*kills, ops, *credentials, (total / time.Duration(max(*kills, 1))).Round(10*time.Millisecond), worst.Round(10*time.Millisecond), *leaseDuration, *retryPeriod)
	lost, doubled := w.verify(t)
	result(t, "%d credentials lost, %d doubled or orphaned records", lost, doubled)
}

// leaseHolder returns the holder of the managers' Lease.
func leaseHolder(t *testing.T) string {
	t.Helper()
	lease := &coordinationv1.Lease{}
	if err := signet.Client.Get(context.Background(), client.ObjectKey{Namespace: signet.Namespace, Name: "manager.iam.signet.dev"}, lease); err != nil {
		t.Fatal(err)
	}
	return ptr.Deref(lease.Spec.HolderIdentity, "")
}

// waitLeader returns the manager whose metrics say it leads, waiting for
// one.
func waitLeader(t *testing.T) string {
	t.Helper()
	var leader string
	testutil.WaitFor(t, 2**leaseDuration+30*time.Second, "a manager leads", func() error {
		for i, name := range managers {
			if leads(signet.ManagerMetricsURLs[i]) {
				leader = name
				return nil
			}
		}
		return fmt.Errorf("no leader")
	})
	return leader
}

func leads(metricsURL string) bool {
	hc := &http.Client{Timeout: time.Second}
	resp, err := hc.Get(metricsURL)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(body), `leader_election_master_status{name="manager.iam.signet.dev"} 1`)
}

// workload creates, rotates and deletes ClientCredentials c-0 ... c-N and
// remembers which should exist.
type workload struct {
	ns     string
	mu     sync.Mutex
	exists []bool
	ops    int
}

func credName(i int) string { return "c-" + strconv.Itoa(i) }

// create creates credential i, unless an earlier one of that name is still
// being deleted.
func (w *workload) create(t *testing.T, i int) {
	cc := &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Name: credName(i), Namespace: w.ns},
		Spec: iamv1.ClientCredentialSpec{ServiceAccountName: "app",
			Rotation: &iamv1.RotationSpec{GracePeriod: &metav1.Duration{}}}}
	err := signet.Client.Create(context.Background(), cc)
	if apierrors.IsAlreadyExists(err) {
		return
	}
	if err != nil {
		t.Errorf("creating %s: %v", cc.Name, err)
		return
	}
	w.exists[i] = true
}

// churn runs one operation every 20 ms until stop: a rotation (new
// trigger) of an existing credential, or now and then its deletion, or the
// creation of a deleted one.
func (w *workload) churn(t *testing.T, stop <-chan struct{}) {
	ctx := context.Background()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		i := rand.N(len(w.exists))
		w.mu.Lock()
		cc := &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Name: credName(i), Namespace: w.ns}}
		var err error
		switch {
		case !w.exists[i]:
			w.create(t, i)
		case rand.N(5) == 0:
			if err = signet.Client.Delete(ctx, cc); err == nil || apierrors.IsNotFound(err) {
				w.exists[i], err = false, nil
			}
		default:
			patch := []byte(`{"spec":{"rotation":{"trigger":"` + strconv.Itoa(n) + `"}}}`)
			err = signet.Client.Patch(ctx, cc, client.RawPatch("application/merge-patch+json", patch))
		}
		if err != nil {
			t.Errorf("%s: %v", cc.Name, err)
		}
		w.ops++
		w.mu.Unlock()
	}
}

// verify waits for the manager to converge and counts credentials lost
// (Ready but without a working secret, or never Ready) and records doubled
// or orphaned, failing the test for each.
func (w *workload) verify(t *testing.T) (lost, doubled int) {
	t.Helper()
	ctx := context.Background()
	testutil.WaitFor(t, 5*time.Minute, "every ClientCredential is Ready and every deleted one gone", func() error {
		list := &iamv1.ClientCredentialList{}
		if err := signet.Client.List(ctx, list, client.InNamespace(w.ns)); err != nil {
			return err
		}
		want := 0
		for _, e := range w.exists {
			if e {
				want++
			}
		}
		if len(list.Items) != want {
			return fmt.Errorf("%d ClientCredentials, want %d", len(list.Items), want)
		}
		for _, cc := range list.Items {
			if cc.Status.ObservedGeneration != cc.Generation || !meta.IsStatusConditionTrue(cc.Status.Conditions, iamv1.ReadyCondition) {
				return fmt.Errorf("%s is not Ready for generation %d: %+v", cc.Name, cc.Generation, cc.Status.Conditions)
			}
		}
		return nil
	})
	for i, e := range w.exists {
		if !e {
			continue
		}
		creds := workloadSecret(t, w.ns, credName(i), "client_secret")
		err := everyReplica(func(base string) error {
			// The replicas may still be reading the last rotation.
			return waitErr(10*time.Second, func() error { _, err := testutil.TokenAt(base, creds); return err })
		})
		if err != nil {
			lost++
			t.Errorf("%s: its workload Secret's secret gets no token: %v", credName(i), err)
		}
	}
	// A write the killed leader had in flight can land after the finalizer
	// deleted a record; the leader's sweeper deletes such orphans. The
	// check waits out a few sweeps, and reports what it saw first.
	var missing, extra []string
	seen := false
	_ = waitErr(10**recordSweep+10*time.Second, func() error {
		missing, extra = w.recordCounts(t)
		if len(extra) > 0 && !seen {
			seen = true
			t.Logf("left behind before the sweeper's pass: %s", strings.Join(extra, "; "))
		}
		if len(missing)+len(extra) > 0 {
			return errors.New("not converged")
		}
		return nil
	})
	for _, m := range missing {
		t.Errorf("%s", m)
	}
	for _, e := range extra {
		t.Errorf("after the sweeper's passes: %s", e)
	}
	lost += len(missing)
	doubled += len(extra)
	return lost, doubled
}

// recordCounts lists what is wrong with the credential records of the
// workload's namespace: an existing credential without a record (missing);
// one with more than one, a deleted one with any, a name never created
// (extra).
func (w *workload) recordCounts(t *testing.T) (missing, extra []string) {
	t.Helper()
	records := &corev1.SecretList{}
	if err := signet.Client.List(context.Background(), records, client.InNamespace(signet.Namespace),
		client.MatchingLabels{record.LabelComponent: record.ComponentCredentialRecord, record.LabelNamespace: w.ns}); err != nil {
		t.Fatal(err)
	}
	per := map[string]int{}
	for _, s := range records.Items {
		per[s.Labels[record.LabelCredential]]++
	}
	for i, e := range w.exists {
		n := per[credName(i)]
		delete(per, credName(i))
		switch {
		case e && n == 0:
			missing = append(missing, credName(i)+" has no credential record")
		case e && n > 1, !e && n > 0:
			extra = append(extra, fmt.Sprintf("%s (existing: %v) has %d credential records", credName(i), e, n))
		}
	}
	for name, n := range per {
		extra = append(extra, fmt.Sprintf("%d credential records name %s, which was never created", n, name))
	}
	return missing, extra
}

// waitErr polls check until it returns nil or timeout passes, and returns
// its last error.
func waitErr(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
