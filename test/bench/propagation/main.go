// Command propagation measures confirmed propagation
// (docs/design/0029-replica-reports.md): with the real manager and three
// token-server replicas on the local control plane, it revokes N
// ClientCredentials at once and reports the p50 and p99 of the time until
// each is Propagated, both as the manager records it
// (status.propagation.latency: from the manager's first sight of the change
// to the last replica's report) and as a client sees it (from the end of
// the patches to the condition turning True, read every 100 ms); then the
// same for changes made one at a time. Run it with "make bench-propagation".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/devenv"
)

type result struct {
	Credentials int `json:"credentials"`
	Replicas    int `json:"replicas"`
	// PatchSeconds is how long the N patches took to send.
	PatchSeconds float64 `json:"patchSeconds"`
	// Manager is status.propagation.latency, Client the time from the last
	// patch to Propagated=True as read by a client.
	Manager percentiles `json:"managerLatency"`
	Client  percentiles `json:"clientLatency"`
	// Single is the manager's latency for one change at a time (un-revoking
	// Singles credentials one after the other): the cost of confirmation
	// itself, without a burst queued in the manager.
	Single percentiles `json:"singleLatency"`
}

type percentiles struct {
	P50 float64 `json:"p50Seconds"`
	P99 float64 `json:"p99Seconds"`
	Max float64 `json:"maxSeconds"`
}

func main() {
	var (
		creds    = flag.Int("credentials", 1000, "ClientCredentials revoked at once")
		replicas = flag.Int("replicas", 3, "token-server replicas")
		singles  = flag.Int("singles", 20, "credentials then changed one at a time")
		out      = flag.String("json", "", "also write the result as JSON to this file")
		timeout  = flag.Duration("timeout", 20*time.Minute, "give up after this long at any stage")
	)
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(*creds, *replicas, *singles, *out, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(n, replicas, singles int, out string, timeout time.Duration) error {
	ctx := context.Background()
	env, err := devenv.StartBuilt(ctx, "bench-propagation", devenv.Options{
		Listen: "127.0.0.1:0", TokenServers: replicas,
		// The manager's API budget of make bench-controllers: a burst of
		// revocations is four writes each, which the development default
		// (200 a second) would turn into the figure measured.
		ManagerArgs: []string{"--kube-api-qps=500", "--kube-api-burst=1000"}})
	if err != nil {
		return err
	}
	defer os.RemoveAll(env.Dir())
	defer env.Stop()
	c := env.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-"}}
	if err := c.Create(ctx, ns); err != nil {
		return err
	}
	if err := create(ctx, c, ns.Name, n); err != nil {
		return err
	}
	fmt.Printf("%d credentials created; waiting until each is Propagated\n", n)
	if _, err := waitPropagated(ctx, c, ns.Name, n, time.Now(), timeout); err != nil {
		return err
	}

	start := time.Now()
	if err := parallel(n, func(i int) error {
		key := types.NamespacedName{Namespace: ns.Name, Name: credentialName(i)}
		return c.Patch(ctx, &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}},
			client.RawPatch(types.MergePatchType, []byte(`{"spec":{"revoked":true}}`)))
	}); err != nil {
		return err
	}
	patched := time.Now()
	seen, err := waitPropagated(ctx, c, ns.Name, n, patched, timeout)
	if err != nil {
		return err
	}
	r := result{Credentials: n, Replicas: replicas, PatchSeconds: patched.Sub(start).Seconds()}
	var managerLatency, clientLatency []time.Duration
	for _, s := range seen {
		managerLatency = append(managerLatency, s.latency)
		clientLatency = append(clientLatency, s.at)
	}
	r.Manager, r.Client = summarize(managerLatency), summarize(clientLatency)
	fmt.Printf("revoked %d credentials at once (patches sent in %.2fs), %d token-server replicas\n", n, r.PatchSeconds, replicas)
	fmt.Printf("Propagated, as the manager records it: p50 %.3fs  p99 %.3fs  max %.3fs\n", r.Manager.P50, r.Manager.P99, r.Manager.Max)
	fmt.Printf("Propagated, as a client sees it:       p50 %.3fs  p99 %.3fs  max %.3fs\n", r.Client.P50, r.Client.P99, r.Client.Max)
	if r.Single, err = oneAtATime(ctx, c, ns.Name, min(singles, n), timeout); err != nil {
		return err
	}
	fmt.Printf("one change at a time (%d), as the manager records it: p50 %.3fs  p99 %.3fs  max %.3fs\n", min(singles, n), r.Single.P50, r.Single.P99, r.Single.Max)
	if out == "" {
		return nil
	}
	data, _ := json.MarshalIndent(r, "", "  ")
	return os.WriteFile(out, data, 0o644)
}

// oneAtATime un-revokes k credentials one after the other, each once the
// previous is Propagated, and summarizes the manager's latencies.
func oneAtATime(ctx context.Context, c client.Client, ns string, k int, timeout time.Duration) (percentiles, error) {
	var latencies []time.Duration
	for i := range k {
		cc := &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: credentialName(i)}}
		if err := c.Patch(ctx, cc, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"revoked":false}}`))); err != nil {
			return percentiles{}, err
		}
		deadline := time.Now().Add(timeout)
		for {
			if err := c.Get(ctx, client.ObjectKeyFromObject(cc), cc); err != nil {
				return percentiles{}, err
			}
			cond := meta.FindStatusCondition(cc.Status.Conditions, iamv1.PropagatedCondition)
			if cond != nil && cond.Status == metav1.ConditionTrue && cond.ObservedGeneration == cc.Generation && cc.Status.Propagation.Latency != nil {
				latencies = append(latencies, cc.Status.Propagation.Latency.Duration)
				break
			}
			if time.Now().After(deadline) {
				return percentiles{}, fmt.Errorf("%s not Propagated after %s", cc.Name, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return summarize(latencies), nil
}

func credentialName(i int) string { return fmt.Sprintf("c%05d", i) }

// create makes n ClientSecret credentials over n/100 accounts.
func create(ctx context.Context, c client.Client, ns string, n int) error {
	accounts := max(n/100, 1)
	if err := parallel(accounts, func(i int) error {
		return c.Create(ctx, &iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("a%03d", i)}})
	}); err != nil {
		return err
	}
	return parallel(n, func(i int) error {
		return c.Create(ctx, &iamv1.ClientCredential{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: credentialName(i)},
			Spec:       iamv1.ClientCredentialSpec{ServiceAccountName: fmt.Sprintf("a%03d", i%accounts), Type: iamv1.ClientSecretType},
		})
	})
}

type sighting struct {
	latency time.Duration // status.propagation.latency
	at      time.Duration // since the change, as seen here
}

// waitPropagated polls until every credential is Propagated for its
// current generation, noting when each was first seen so.
func waitPropagated(ctx context.Context, c client.Client, ns string, n int, since time.Time, timeout time.Duration) (map[string]sighting, error) {
	seen := map[string]sighting{}
	deadline := since.Add(timeout)
	for len(seen) < n {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%d of %d credentials Propagated after %s", len(seen), n, timeout)
		}
		list := &iamv1.ClientCredentialList{}
		if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		now := time.Now()
		for i := range list.Items {
			cc := &list.Items[i]
			cond := meta.FindStatusCondition(cc.Status.Conditions, iamv1.PropagatedCondition)
			if _, done := seen[cc.Name]; done || cond == nil || cond.Status != metav1.ConditionTrue || cond.ObservedGeneration != cc.Generation {
				continue
			}
			s := sighting{at: now.Sub(since)}
			if p := cc.Status.Propagation; p != nil && p.Latency != nil {
				s.latency = p.Latency.Duration
			}
			seen[cc.Name] = s
		}
		time.Sleep(100 * time.Millisecond)
	}
	return seen, nil
}

// parallel runs f for 0..n-1 on 16 workers and returns the first error.
func parallel(n int, f func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(16)
	for i := range n {
		g.Go(func() error { return f(i) })
	}
	return g.Wait()
}

func summarize(ds []time.Duration) percentiles {
	if len(ds) == 0 {
		return percentiles{}
	}
	slices.Sort(ds)
	at := func(q float64) float64 { return ds[min(int(q*float64(len(ds))), len(ds)-1)].Seconds() }
	return percentiles{P50: at(0.5), P99: at(0.99), Max: ds[len(ds)-1].Seconds()}
}
