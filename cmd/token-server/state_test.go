package main

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/kube"
)

func assertionForm(assertion string, extra ...string) url.Values {
	f := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {assertion},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

func stateObjects(t *testing.T, ns string) []corev1.ConfigMap {
	t.Helper()
	list, err := cs.CoreV1().ConfigMaps(ns).List(t.Context(), metav1.ListOptions{LabelSelector: kube.CollectSelector})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

// TestAssertionsLeaveOneObjectPerClient is SECURITY.md 33: 2,000
// assertions from one client leave one object, the client's ledger. Past
// kube.MaxUsedAssertions outstanding, requests get 429 with Retry-After and
// write nothing more.
func TestAssertionsLeaveOneObjectPerClient(t *testing.T) {
	ns, fx := namespace(t, cs)
	signer := newClient(t, fx, record.TypePrivateKeyJWT, "signer")
	srv := start(t, env.Config, ns, nil)
	const n = 2000
	var ok, full, other atomic.Int64
	var wg sync.WaitGroup
	jobs := make(chan string)
	for range 8 {
		wg.Go(func() {
			for a := range jobs {
				resp, err := http.PostForm(srv.url+"/oauth2/token", assertionForm(a))
				if err != nil {
					other.Add(1)
					continue
				}
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusOK:
					ok.Add(1)
				case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "":
					full.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	for range n {
		jobs <- signAssertion(t, signer)
	}
	close(jobs)
	wg.Wait()
	if ok.Load() != kube.MaxUsedAssertions || full.Load() != n-kube.MaxUsedAssertions || other.Load() != 0 {
		t.Fatalf("%d tokens, %d refused as over the cap, %d other; want %d, %d, 0",
			ok.Load(), full.Load(), other.Load(), kube.MaxUsedAssertions, n-kube.MaxUsedAssertions)
	}
	objs := stateObjects(t, ns)
	if len(objs) != 1 || objs[0].Name != kube.LedgerName(signer.ID()) {
		t.Fatalf("%d state objects after %d assertions, want the client's ledger alone", len(objs), n)
	}
	size := 0
	for _, v := range objs[0].Data {
		size += len(v)
	}
	t.Logf("the ledger holds %d assertions in %d bytes", len(kube.DecodeLedger(&objs[0]).Assertions), size)
	if got := len(kube.DecodeLedger(&objs[0]).Assertions); got != kube.MaxUsedAssertions {
		t.Fatalf("the ledger lists %d assertions, want %d", got, kube.MaxUsedAssertions)
	}
}

// TestRefusedRequestsWriteNothing: a valid assertion of a disabled client,
// or one asking for a scope the client lacks, is refused before anything
// is written, and its jti stays unused.
func TestRefusedRequestsWriteNothing(t *testing.T) {
	ns, fx := namespace(t, cs)
	signer := newClient(t, fx, record.TypePrivateKeyJWT, "signer")
	srv := start(t, env.Config, ns, nil)

	a := signAssertion(t, signer)
	if r := post(t, srv.url+"/oauth2/token", assertionForm(a, "scope", "orders:write")); r.status != http.StatusBadRequest {
		t.Fatalf("a scope not granted: %d %s", r.status, r.body)
	}
	if objs := stateObjects(t, ns); len(objs) != 0 {
		t.Fatalf("a request refused for its scope wrote %d objects", len(objs))
	}
	if r := post(t, srv.url+"/oauth2/token", assertionForm(a)); r.status != http.StatusOK {
		t.Fatalf("the assertion of a refused request was spent: %d %s", r.status, r.body)
	}

	ns2, fx2 := namespace(t, cs)
	disabled, err := fx2.NewClient(record.TypePrivateKeyJWT, "disabled", []string{"orders:read"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	disabled.Record.Disabled = true
	writeClient(t, cs, fx2, disabled)
	srv2 := start(t, env.Config, ns2, nil)
	if r := post(t, srv2.url+"/oauth2/token", assertionForm(signAssertion(t, disabled))); r.status != http.StatusUnauthorized {
		t.Fatalf("a disabled client's valid assertion: %d %s", r.status, r.body)
	}
	if objs := stateObjects(t, ns2); len(objs) != 0 {
		t.Fatalf("a disabled client's valid assertion wrote %d objects", len(objs))
	}
}

// TestRevocationOverflowMovesNotBefore: past kube.MaxRevokedTokens listed
// revocations, the client's not-before moves forward; every token it held
// is inactive on every replica, its ledger stays one bounded object, and
// new tokens work.
func TestRevocationOverflowMovesNotBefore(t *testing.T) {
	ns, fx := namespace(t, cs)
	owner := newClient(t, fx, record.TypeClientSecret, "owner")
	a, b := start(t, env.Config, ns, nil), start(t, env.Config, ns, nil)
	tokens := make([]string, kube.MaxRevokedTokens+2)
	for i := range tokens {
		r := a.token(t, owner)
		if r.status != http.StatusOK {
			t.Fatalf("token %d: %d %s", i, r.status, r.body)
		}
		tokens[i] = r.json["access_token"].(string)
	}
	kept := tokens[len(tokens)-1]
	for i, tok := range tokens[:len(tokens)-1] {
		if r := post(t, a.url+"/oauth2/revoke", url.Values{"token": {tok}}, owner.ID(), owner.Secret); r.status != http.StatusOK {
			t.Fatalf("revoking %d: %d %s", i, r.status, r.body)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, tok := range []string{tokens[0], tokens[kube.MaxRevokedTokens], kept} {
		for b.active(t, tok, owner) {
			if time.Now().After(deadline) {
				t.Fatal("a token of the client is still active on the other replica after the overflow")
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	objs := stateObjects(t, ns)
	if len(objs) != 1 {
		t.Fatalf("%d state objects, want the ledger alone", len(objs))
	}
	st := kube.DecodeLedger(&objs[0])
	if st.NotBefore.IsZero() || len(st.Revoked) > kube.MaxRevokedTokens {
		t.Fatalf("the ledger has not-before %v and %d revoked tokens", st.NotBefore, len(st.Revoked))
	}
	fresh := b.token(t, owner)
	if fresh.status != http.StatusOK || !a.active(t, fresh.json["access_token"].(string), owner) {
		t.Fatalf("a token issued after the overflow does not work: %d %s", fresh.status, fresh.body)
	}
}

// listCounter counts the List requests of ConfigMaps, and the largest
// limit any of them asked for.
type listCounter struct {
	next               http.RoundTripper
	lists, unpaginated atomic.Int64
}

func (c *listCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/configmaps") && r.URL.Query().Get("watch") == "" {
		c.lists.Add(1)
		if r.URL.Query().Get("limit") == "" {
			c.unpaginated.Add(1)
		}
	}
	return c.next.RoundTrip(r)
}

// TestGarbageCollectionPages: the collector pages through a namespace full
// of expired objects (5,000 by default; SIGNET_GC_OBJECTS=50000, as in make
// bench-gc, for the full size), never asking for more than a page, with
// the heap flat, deletes them all and nothing live.
func TestGarbageCollectionPages(t *testing.T) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("SIGNET_GC_OBJECTS")); err == nil && v > 0 {
		n = v
	}
	ns, _ := namespace(t, cs)
	expiredAt := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	start := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Int64
	names := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range names {
				cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
					Name: fmt.Sprintf("signet-ledger-expired-%06d", i), Namespace: ns,
					Labels:      map[string]string{record.LabelManagedBy: record.ManagedBy, record.LabelComponent: kube.ComponentLedger},
					Annotations: map[string]string{record.AnnotationExpiresAt: expiredAt},
				}, Data: map[string]string{"client_id": fmt.Sprintf("sgc_%d", i)}}
				if _, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
					failed.Add(1)
				}
			}
		})
	}
	for i := range n {
		names <- i
	}
	close(names)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d creates failed", failed.Load())
	}
	t.Logf("created %d expired objects in %v", n, time.Since(start))
	live := &kube.Ledger{Client: cs, Namespace: ns}
	if _, err := live.UseAssertion(t.Context(), "sgc_live", "jti", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	counter := &listCounter{}
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 1000, 1000
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter })
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const page = 500
	gc := &kube.Collector{Client: client, Namespace: ns, PageSize: page, DeletesPerSecond: 5000}
	start = time.Now()
	heap := watchHeap()
	deleted, err := gc.Collect(t.Context(), time.Now())
	growth := heap()
	if err != nil || deleted != n {
		t.Fatalf("deleted %d (%v), want %d", deleted, err, n)
	}
	t.Logf("collected %d objects in %v with %d list requests; the heap grew by at most %.1f MB", n, time.Since(start), counter.lists.Load(), float64(growth)/(1<<20))
	// One page of 500 small ConfigMaps decodes to about 1 MB; holding
	// 50,000 (make bench-gc) would take about 100 MB.
	if growth > 16<<20 {
		t.Fatalf("the heap grew by %d MB while collecting: memory is not flat", growth>>20)
	}
	if counter.unpaginated.Load() > 0 || counter.lists.Load() < int64(n/page) {
		t.Fatalf("%d list requests, %d without a limit; want at least %d pages of %d", counter.lists.Load(), counter.unpaginated.Load(), n/page, page)
	}
	if objs := stateObjects(t, ns); len(objs) != 1 || objs[0].Name != kube.LedgerName("sgc_live") {
		t.Fatalf("%d objects left, want the live ledger alone", len(objs))
	}
}

// watchHeap samples the heap every 5 ms, with the collector made eager so
// that the heap in use tracks what is live, until the returned function is
// called; that returns the largest growth seen over the heap at the start.
func watchHeap() func() uint64 {
	prev := debug.SetGCPercent(5)
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base := m.HeapAlloc
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > base && m.HeapAlloc-base > peak.Load() {
				peak.Store(m.HeapAlloc - base)
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		debug.SetGCPercent(prev)
		return peak.Load()
	}
}

// statusCounter counts the API server's answers by status code.
type statusCounter struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen map[int]int
}

func (c *statusCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil {
		c.mu.Lock()
		c.seen[resp.StatusCode]++
		c.mu.Unlock()
	}
	return resp, err
}

// TestLedgerWritesOverItsOwnLastWrite: a revocation writes its client's
// ledger twice in a row (its assertion, then the revocation), before the
// informer has seen the first write. The second write starts from the
// first one's answer, so neither conflicts.
func TestLedgerWritesOverItsOwnLastWrite(t *testing.T) {
	ns, _ := namespace(t, cs)
	counter := &statusCounter{seen: map[int]int{}}
	cfg := rest.CopyConfig(env.Config)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { counter.next = rt; return counter })
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// An informer that never catches up.
	ledger := &kube.Ledger{Client: client, Namespace: ns, Cached: func(string) *corev1.ConfigMap { return nil }}
	now := time.Now()
	for i := range 5 {
		if first, err := ledger.UseAssertion(t.Context(), "sgc_busy", fmt.Sprintf("jti-%d", i), now.Add(time.Minute)); err != nil || !first {
			t.Fatalf("assertion %d: first %v, %v", i, first, err)
		}
		if err := ledger.Revoke(t.Context(), fmt.Sprintf("01KAAAAAAAAAAAAAAAAAAAAAA%d", i), "sgc_busy", now, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	if counter.seen[http.StatusConflict] > 0 || counter.seen[http.StatusOK]+counter.seen[http.StatusCreated] != 10 {
		t.Fatalf("answers %v: want 10 writes and no conflict", counter.seen)
	}
}
