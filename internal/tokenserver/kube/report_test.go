package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/signet-iam/signet/internal/replicareport"
	"github.com/signet-iam/signet/internal/testutil"
)

// TestReportBoundWithManyInGrace: 10,000 credentials in grace, each used
// from its own address, leave a report within its bound that says it is
// truncated; uses of clients no longer in grace drop out.
func TestReportBoundWithManyInGrace(t *testing.T) {
	inGrace := atomic.Bool{}
	inGrace.Store(true)
	r := &Reporter{Replica: "r", InGrace: func(string, time.Time) bool { return inGrace.Load() }}
	for i := range 10_000 {
		r.PreviousSecretUsed(fmt.Sprintf("sgc_%026d", i), fmt.Sprintf("[2001:db8::%x]", i))
	}
	rep := r.Report()
	l := rep.Lease("signet-system")
	size := 0
	for k, v := range l.Annotations {
		size += len(k) + len(v)
	}
	if size > replicareport.MaxAnnotationBytes || !rep.Truncated {
		t.Fatalf("report annotations are %d bytes (bound %d), truncated %v", size, replicareport.MaxAnnotationBytes, rep.Truncated)
	}
	decoded, err := replicareport.Decode(l)
	if err != nil || len(decoded.Uses) != replicareport.MaxUses || !decoded.Truncated {
		t.Fatalf("decoded %d uses, truncated %v, %v", len(decoded.Uses), decoded.Truncated, err)
	}
	t.Logf("10,000 credentials in grace: report of %d bytes, %d uses listed", size, len(decoded.Uses))

	inGrace.Store(false)
	if rep := r.Report(); len(rep.Uses) != 0 {
		t.Fatalf("%d uses listed after every grace ended", len(rep.Uses))
	}
}

// TestReporterWritesOnlyChanges: the reporter writes at most once per
// interval, only when the report changed, plus its heartbeat; nothing
// before the index applied its first list.
func TestReporterWritesOnlyChanges(t *testing.T) {
	cs := fake.NewClientset()
	var writes atomic.Int64
	cs.PrependReactor("*", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetVerb() == "create" || a.GetVerb() == "update" {
			writes.Add(1)
		}
		return false, nil, nil
	})
	ready := atomic.Bool{}
	r := &Reporter{Client: cs, Namespace: "ns", Replica: "r", Interval: 50 * time.Millisecond, Timeout: time.Minute,
		Ready: ready.Load, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()

	r.Applied("5")
	time.Sleep(200 * time.Millisecond) // only to show that nothing happens
	if n := writes.Load(); n != 0 {
		t.Fatalf("%d writes before the first list was applied", n)
	}
	ready.Store(true)
	for i := 6; i < 40; i++ {
		r.Applied(fmt.Sprint(i))
		time.Sleep(5 * time.Millisecond)
	}
	testutil.WaitFor(t, 5*time.Second, "the last applied version in the report", func() error {
		l, err := cs.CoordinationV1().Leases("ns").Get(ctx, replicareport.LeaseName("r"), metav1.GetOptions{})
		if err != nil {
			return err
		}
		if v := l.Annotations[replicareport.AnnotationAppliedVersion]; v != "39" {
			return fmt.Errorf("applied version %q", v)
		}
		return nil
	})
	// 34 changes over about 170 ms (plus the wait) at one write per 50 ms.
	if n := writes.Load(); n > 8 {
		t.Fatalf("%d writes for 34 changes in a few intervals", n)
	}
	before := writes.Load()
	r.Applied("20") // older than what was applied: no news
	time.Sleep(200 * time.Millisecond)
	if n := writes.Load() - before; n != 0 {
		t.Fatalf("%d writes without a change, before the heartbeat", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	l, err := cs.CoordinationV1().Leases("ns").Get(t.Context(), replicareport.LeaseName("r"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep, _ := replicareport.Decode(l); rep.Live(time.Now()) {
		t.Fatal("the report of a stopped reporter is still live")
	}
}
