package kube

import (
	"context"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"k8s.io/client-go/kubernetes"

	"github.com/signet-iam/signet/internal/replicareport"
)

// Reporter publishes this replica's report Lease
// (docs/design/0029-replica-reports.md): the highest resourceVersion of a
// Secret event the index has applied, and the last use of each previous
// secret in grace. It writes at most once per Interval, only when the
// report changed, and otherwise every third of Timeout to stay in the set.
type Reporter struct {
	Client    kubernetes.Interface
	Namespace string
	// Replica names this replica; it names the Lease.
	Replica string
	// Interval is the least time between two writes. Default 1s.
	Interval time.Duration
	// Timeout is how long the report counts after a write. Default
	// replicareport.DefaultTimeout.
	Timeout time.Duration
	// Ready reports whether the index applied its first list; nothing is
	// reported before.
	Ready func() bool
	// InGrace reports whether a client still has a previous secret in
	// grace; uses of others are dropped from the report.
	InGrace func(clientID string, now time.Time) bool
	Log     *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time

	mu      sync.Mutex
	applied string
	uses    map[string]replicareport.Use
	dropped time.Time
	wake    chan struct{}
	once    sync.Once
}

func (r *Reporter) init() {
	r.once.Do(func() {
		r.wake = make(chan struct{}, 1)
		r.uses = map[string]replicareport.Use{}
		if r.Interval <= 0 {
			r.Interval = time.Second
		}
		if r.Timeout <= 0 {
			r.Timeout = replicareport.DefaultTimeout
		}
		if r.Now == nil {
			r.Now = time.Now
		}
		if r.Ready == nil {
			r.Ready = func() bool { return true }
		}
		if r.InGrace == nil {
			r.InGrace = func(string, time.Time) bool { return true }
		}
	})
}

// Applied records that the index applied a Secret event of
// resourceVersion version. Events arrive in order, so the highest one
// seen says everything up to it was applied.
func (r *Reporter) Applied(version string) {
	r.init()
	r.mu.Lock()
	c, err := resourceversion.CompareResourceVersion(version, r.applied)
	if r.applied == "" || (err == nil && c > 0) {
		r.applied = version
		r.poke()
	}
	r.mu.Unlock()
}

// PreviousSecretUsed records that clientID authenticated with its previous
// secret, from address.
func (r *Reporter) PreviousSecretUsed(clientID, address string) {
	r.init()
	now := r.Now()
	address = replicareport.Address(address)
	r.mu.Lock()
	defer r.mu.Unlock()
	old, seen := r.uses[clientID]
	r.uses[clientID] = replicareport.Use{At: now, Address: address}
	// The report holds whole seconds: only a new second or address is news.
	if !seen || old.At.Unix() != now.Unix() || old.Address != address {
		r.poke()
	}
	if len(r.uses) > 2*replicareport.MaxUses {
		r.pruneLocked(now)
	}
}

// poke wakes the writer; the caller holds mu.
func (r *Reporter) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// pruneLocked drops uses of clients no longer in grace and uses older than
// replicareport.UseMemory; past 2×MaxUses it keeps the MaxUses most recent
// and remembers that it dropped some, so the report says it is truncated
// for as long as a dropped use could matter.
func (r *Reporter) pruneLocked(now time.Time) {
	for id, u := range r.uses {
		if now.Sub(u.At) > replicareport.UseMemory || !r.InGrace(id, now) {
			delete(r.uses, id)
		}
	}
	if len(r.uses) <= 2*replicareport.MaxUses {
		return
	}
	keep := map[string]replicareport.Use{}
	for _, id := range replicareport.MostRecent(r.uses)[:replicareport.MaxUses] {
		keep[id] = r.uses[id]
	}
	r.uses, r.dropped = keep, now
}

// Report returns what would be published now.
func (r *Reporter) Report() replicareport.Report {
	r.init()
	now := r.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pruneLocked(now)
	rep := replicareport.Report{
		Replica: r.Replica, AppliedVersion: r.applied, Uses: make(map[string]replicareport.Use, len(r.uses)),
		Truncated: !r.dropped.IsZero() && now.Sub(r.dropped) < replicareport.UseMemory,
		RenewTime: now, Timeout: r.Timeout,
	}
	for id, u := range r.uses {
		rep.Uses[id] = u
	}
	return rep
}

// Run publishes until ctx ends, then marks the report expired so that the
// replica leaves the set at once rather than after the timeout.
func (r *Reporter) Run(ctx context.Context) error {
	r.init()
	var p publication
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			r.release(p.current)
			return nil
		case <-r.wake:
		case <-timer.C:
		}
		// At most one write per Interval: a burst of changes waits out the
		// rest of it and goes out as one write.
		if wait := r.Interval - r.Now().Sub(p.lastWrite); wait > 0 {
			select {
			case <-ctx.Done():
				r.release(p.current)
				return nil
			case <-time.After(wait):
			}
		}
		if !r.Ready() {
			// Report as soon as the first list is applied.
			timer.Reset(100 * time.Millisecond)
			continue
		}
		r.publish(ctx, &p)
		timer.Reset(r.Timeout / 3)
	}
}

// publication is what the writer knows of its Lease.
type publication struct {
	// current is the Lease as last written; nil when unknown.
	current   *coordinationv1.Lease
	lastWrite time.Time
	lastBody  string
}

// publish writes the report when it changed or the heartbeat is due.
func (r *Reporter) publish(ctx context.Context, p *publication) {
	rep := r.Report()
	lease := rep.Lease(r.Namespace)
	body := leaseBody(lease)
	if body == p.lastBody && r.Now().Sub(p.lastWrite) < r.Timeout/3 {
		return
	}
	written, err := r.write(ctx, p.current, lease)
	if err != nil {
		r.Log.Warn("Could not write the replica report", "lease", lease.Name, "error", err.Error())
	} else {
		p.lastBody = body
	}
	p.current, p.lastWrite = written, r.Now()
}

// leaseBody is what a report says, without its renew time.
func leaseBody(l *coordinationv1.Lease) string {
	a := l.Annotations
	return a[replicareport.AnnotationAppliedVersion] + "\x00" + a[replicareport.AnnotationUses] + "\x00" + a[replicareport.AnnotationUsesTruncated]
}

// write updates the Lease from the last one written, creating it if it
// does not exist and reading it again after a conflict. It returns the
// Lease as stored, or nil when that is unknown.
func (r *Reporter) write(ctx context.Context, current, want *coordinationv1.Lease) (*coordinationv1.Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	leases := r.Client.CoordinationV1().Leases(r.Namespace)
	if current == nil {
		got, err := leases.Get(ctx, want.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return leases.Create(ctx, want, metav1.CreateOptions{})
		}
		if err != nil {
			return nil, err
		}
		current = got
	}
	next := current.DeepCopy()
	next.Labels, next.Annotations, next.Spec = want.Labels, want.Annotations, want.Spec
	written, err := leases.Update(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return r.write(ctx, nil, want)
	}
	if err != nil {
		return nil, err
	}
	return written, nil
}

// release marks the report expired as the replica stops.
func (r *Reporter) release(current *coordinationv1.Lease) {
	if current == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	gone := current.DeepCopy()
	past := metav1.NewMicroTime(r.Now().Add(-r.Timeout))
	gone.Spec.RenewTime = &past
	if _, err := r.Client.CoordinationV1().Leases(r.Namespace).Update(ctx, gone, metav1.UpdateOptions{}); err != nil {
		r.Log.Warn("Could not withdraw the replica report", "lease", gone.Name, "error", err.Error())
	}
}
