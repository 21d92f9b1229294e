package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/replicareport"
)

// When a previous secret retires (docs/rotation.md, "Retirement"): at the
// end of its grace period, or under policy WhenUnused as soon as its
// consumers have moved on. What the consumers do is observed into the
// snapshot (observeConsumers); the decision is plan's (keepPrevious), a
// pure function of it and the time.

const (
	// consumerPoll is how often a credential with a previous secret in
	// grace is looked at again, so that PreviousSecretInUse follows the
	// replicas' reports. A rotation with the default 5m grace costs about
	// five more passes.
	consumerPoll = time.Minute
	// rolloutPoll is how often a rollout restart target that has not rolled
	// out is read again under WhenUnused (one GET per target; the manager
	// does not watch workloads).
	rolloutPoll = 10 * time.Second
	// reportPoll is how soon to look again when only a replica's next
	// report is missing.
	reportPoll = 2 * time.Second
)

// consumers is what the token-server replicas and the rollout restart
// targets say about the consumers of a previous secret. It is observed
// only while the record holds a previous secret, and the rollouts only
// under policy WhenUnused.
type consumers struct {
	// replicas is the number of live replica reports. With none, no use
	// can be known, and WhenUnused waits for the deadline.
	replicas int
	// reportedUntil is the oldest write time among the live reports: every
	// live replica has reported its uses up to then.
	reportedUntil time.Time
	// lastUse is the latest use of the client's previous secret that a live
	// replica reports; nil when none does.
	lastUse *replicareport.Use
	// rollouts are the rollout restart targets, in spec order.
	rollouts []rollout
}

// rollout is where a rollout restart target stands.
type rollout struct {
	kind, name string
	// done is set once the target carries the current secret's restart
	// stamp and has rolled out (kstatus Current), or does not exist.
	done bool
	// why says what it waits for, when not done.
	why string
}

func (r rollout) String() string { return r.kind + " " + r.name }

// retirementPolicy is the spec's policy with its defaults.
type retirementPolicy struct {
	whenUnused bool
	unusedFor  time.Duration
}

func retirementOf(obj *iamv1.ClientCredential) retirementPolicy {
	p := retirementPolicy{unusedFor: iamv1.DefaultUnusedFor}
	if rot := obj.Spec.Rotation; rot != nil && rot.Retirement != nil {
		p.whenUnused = rot.Retirement.Policy == iamv1.RetireWhenUnused
		if u := rot.Retirement.UnusedFor; u != nil && u.Duration > 0 {
			p.unusedFor = u.Duration
		}
	}
	return p
}

// observeConsumers reads the replica reports and, under WhenUnused, the
// rollout restart targets, when the record holds a previous secret. The
// reports come from the cache; the targets are read around it, one GET
// each, so the manager neither watches workloads nor needs to list them.
func (r *ClientCredentialReconciler) observeConsumers(ctx context.Context, s *snapshot) (*consumers, error) {
	if !holdsPrevious(s.recordData) {
		return nil, nil
	}
	reps, err := reports(ctx, r.Client, r.Options.SignetNamespace)
	if err != nil {
		return nil, err
	}
	c := usesOf(reps, s.clientID, r.Clock.Now())
	if !retirementOf(s.obj).whenUnused {
		return c, nil
	}
	stamp := ""
	if ws := s.workloadSecret; ws != nil {
		if is := parseIssuance(ws.Annotations); !is.issuedAt.IsZero() {
			stamp = is.issuedAt.UTC().Format(time.RFC3339Nano)
		}
	}
	for _, t := range s.obj.Spec.RolloutRestartTargets {
		ro, err := r.observeRollout(ctx, s.obj.Namespace, t, stamp)
		if err != nil {
			return nil, err
		}
		c.rollouts = append(c.rollouts, ro)
	}
	return c, nil
}

// holdsPrevious reports whether a stored record accepts a previous secret
// or key, in grace or just past it.
func holdsPrevious(data []byte) bool {
	if data == nil {
		return false
	}
	rec, err := record.Parse(data)
	return err == nil && len(previousDeadlines(rec)) > 0
}

// usesOf sums up the live reports for one client. A live report that left
// uses out to stay bounded may have left this client's out: its replica
// counts as having seen the previous secret used when it wrote the report,
// so that a truncated report can delay a retirement but never hasten one.
func usesOf(reps []replicareport.Report, clientID string, now time.Time) *consumers {
	c := &consumers{}
	later := func(u replicareport.Use) {
		if c.lastUse == nil || u.At.After(c.lastUse.At) {
			c.lastUse = &u
		}
	}
	for _, rep := range reps {
		if !rep.Live(now) {
			continue
		}
		c.replicas++
		if c.reportedUntil.IsZero() || rep.RenewTime.Before(c.reportedUntil) {
			c.reportedUntil = rep.RenewTime
		}
		if u, ok := rep.Uses[clientID]; ok {
			later(u)
		} else if rep.Truncated {
			later(replicareport.Use{At: rep.RenewTime})
		}
	}
	return c
}

// observeRollout reads one rollout restart target.
func (r *ClientCredentialReconciler) observeRollout(ctx context.Context, namespace string, t iamv1.RolloutRestartTarget, stamp string) (rollout, error) {
	ro := rollout{kind: t.Kind, name: t.Name}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("apps/v1")
	u.SetKind(t.Kind)
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: t.Name}, u)
	if apierrors.IsNotFound(err) {
		// Nothing runs there to use the previous secret.
		ro.done = true
		return ro, nil
	}
	if err != nil {
		return ro, fmt.Errorf("reading %s %s: %s", t.Kind, t.Name, safeReason(err))
	}
	ro.done, ro.why = rolledOut(u, stamp)
	return ro, nil
}

// rolledOut reports whether a workload runs the pod template stamped for
// the current secret everywhere: it carries the stamp, and kstatus (the
// rules kubectl rollout status and Flux use) says it is Current.
func rolledOut(u *unstructured.Unstructured, stamp string) (bool, string) {
	got, _, _ := unstructured.NestedString(u.Object, "spec", "template", "metadata", "annotations", annRestartedAt)
	if stamp == "" || got != stamp {
		return false, "it has not been restarted for the current secret"
	}
	res, err := status.Compute(u)
	if err != nil {
		return false, "its rollout status cannot be read"
	}
	if res.Status != status.CurrentStatus {
		return false, "its rollout is not complete (" + res.Message + ")"
	}
	return true, ""
}

// keepPrevious decides whether the previous secret p, issued before the
// current secret cur, is still accepted; when not, it records the
// retirement. While p is kept it sets PreviousSecretInUse and schedules
// the moments the decision can change.
func keepPrevious(s *snapshot, o *outcome, cur, p material) bool {
	deadline := *p.notAfter
	rotatedAt := deref(cur.issuedAt)
	pol := retirementOf(s.obj)
	use := lastUseSince(s.consumers, rotatedAt)
	if !o.now.Before(deadline) {
		o.retire(deadline, iamv1.GraceEndedReason, "the grace period ended"+usedSuffix(use))
		o.notify(false, iamv1.GraceEndedReason, "EndGrace", "The previous secret of client_id %s is no longer accepted", s.clientID)
		return false
	}
	o.schedule(deadline)
	previousInUse(s, o, use, rotatedAt, deadline, pol.unusedFor)
	if !pol.whenUnused {
		return true
	}
	why, ok := unused(s.consumers, o, rotatedAt, use, pol.unusedFor)
	if !ok {
		return true
	}
	o.retire(o.now, iamv1.UnusedReason, why)
	o.notify(false, iamv1.UnusedReason, "RetirePrevious", "Retired the previous secret of client_id %s before its grace period ended: %s", s.clientID, why)
	return false
}

// lastUseSince is the last reported use of the previous secret since the
// rotation at rotatedAt. Uses are reported in whole seconds, so one in the
// rotation's second counts.
func lastUseSince(c *consumers, rotatedAt time.Time) *replicareport.Use {
	if c == nil || c.lastUse == nil || c.lastUse.At.Before(rotatedAt.Truncate(time.Second)) {
		return nil
	}
	return c.lastUse
}

// unused decides WhenUnused: every rollout restart target rolled out, and
// no live replica saw the previous secret used for unusedFor since the
// rotation or its last use, by reports every live replica wrote after that
// span ended. Otherwise it schedules the next look.
func unused(c *consumers, o *outcome, rotatedAt time.Time, use *replicareport.Use, unusedFor time.Duration) (string, bool) {
	if c == nil || c.replicas == 0 {
		// No replica reports: nothing says the secret is unused.
		o.schedule(o.now.Add(consumerPoll))
		return "", false
	}
	var done []string
	for _, ro := range c.rollouts {
		if !ro.done {
			o.schedule(o.now.Add(rolloutPoll))
			return "", false
		}
		done = append(done, ro.String())
	}
	quiet := rotatedAt
	if use != nil && use.At.After(quiet) {
		quiet = use.At
	}
	due := quiet.Add(unusedFor)
	if o.now.Before(due) {
		o.schedule(due)
		return "", false
	}
	if c.reportedUntil.Before(due) {
		o.schedule(o.now.Add(reportPoll))
		return "", false
	}
	why := fmt.Sprintf("no token-server replica (%d reporting) saw it used for %s", c.replicas, unusedFor)
	if use != nil {
		why += fmt.Sprintf(", since its last use at %s%s", use.At.UTC().Format(time.RFC3339), fromAddress(use))
	}
	if len(done) > 0 {
		why += "; " + strings.Join(done, ", ") + " rolled out"
	}
	return why, true
}

// previousInUse sets PreviousSecretInUse while the previous secret was
// used within unusedFor, naming the last use; in the warning window before
// the deadline it is a Warning, since that consumer breaks at the deadline.
func previousInUse(s *snapshot, o *outcome, use *replicareport.Use, rotatedAt, deadline time.Time, unusedFor time.Duration) {
	o.schedule(o.now.Add(consumerPoll))
	if use == nil || !o.now.Before(use.At.Add(unusedFor)) {
		return
	}
	msg := fmt.Sprintf("the previous secret of client_id %s was last used at %s%s; it is accepted until %s",
		s.clientID, use.At.UTC().Format(time.RFC3339), fromAddress(use), deadline.UTC().Format(time.RFC3339))
	warnFrom := deadline.Add(-warningWindow(deadline.Sub(rotatedAt), unusedFor))
	if o.now.Before(warnFrom) {
		o.schedule(warnFrom)
		o.conditions.markPreviousInUse(iamv1.InUseReason, msg)
		return
	}
	msg += ": move that consumer to the new secret in Secret " + workloadSecretName(s.obj) + " before then, or it will fail"
	o.conditions.markPreviousInUse(iamv1.DeadlineNearReason, msg)
	o.notify(true, iamv1.DeadlineNearReason, "WarnPreviousInUse", "%s", msg)
}

// warningWindow is how long before the deadline a consumer still on the
// previous secret is warned about: the last quarter of the grace period,
// at most unusedFor (from then on, a consumer that stops at once is still
// retired no earlier than the deadline).
func warningWindow(grace, unusedFor time.Duration) time.Duration {
	return min(grace/4, unusedFor)
}

func fromAddress(use *replicareport.Use) string {
	if use.Address == "" {
		return " (address not reported: a replica's report was cut to its size bound)"
	}
	return " from " + use.Address
}

func usedSuffix(use *replicareport.Use) string {
	if use == nil {
		return ""
	}
	return fmt.Sprintf("; it was last used at %s%s", use.At.UTC().Format(time.RFC3339), fromAddress(use))
}

// retire records that a previous secret retired at at. The record keeps
// it (finishRecord), and the status shows it.
func (o *outcome) retire(at time.Time, reason, message string) {
	o.retired = &record.Retirement{At: at.UTC(), Reason: reason, Message: message}
}

// retirementStatus is the status form of a record's last retirement.
func retirementStatus(r *record.Retirement) *iamv1.Retirement {
	if r == nil {
		return nil
	}
	return &iamv1.Retirement{RetiredAt: metav1.Time{Time: r.At}, Reason: r.Reason, Message: r.Message}
}

// inGrace is the set of credentials whose record holds a previous secret,
// by client_id, with the last use the latest pass saw. A replica report
// naming a use that changes what that pass decided wakes the credential at
// once, so PreviousSecretInUse appears within a report's interval of a
// consumer's first use. A use within unusedFor of the one seen changes
// nothing a timed look would not find (the condition is already True, and
// retirement is timed from the last use), so it wakes nothing: a
// consumer that keeps using the previous secret costs no reconcile per
// report write.
type inGrace struct {
	mu       sync.Mutex
	byClient map[string]graceEntry
}

type graceEntry struct {
	key types.NamespacedName
	// seen is the last use the latest pass saw; wakeFrom the earliest
	// use that would change its decision.
	seen, wakeFrom time.Time
}

// track records what a pass decided: whether the credential's record still
// holds a previous secret, and the last use it saw.
func (g *inGrace) track(s *snapshot, o *outcome) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if o.record == nil || len(previousDeadlines(o.record)) == 0 {
		delete(g.byClient, s.clientID)
		return
	}
	if g.byClient == nil {
		g.byClient = map[string]graceEntry{}
	}
	e := graceEntry{key: client.ObjectKeyFromObject(s.obj)}
	if s.consumers != nil && s.consumers.lastUse != nil {
		e.seen = s.consumers.lastUse.At
		e.wakeFrom = e.seen.Add(retirementOf(s.obj).unusedFor)
	}
	g.byClient[s.clientID] = e
}

func (g *inGrace) forget(clientID string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.byClient, clientID)
}

// requests maps a report Lease to the credentials in grace whose reported
// use changes what their latest pass decided.
func (g *inGrace) requests(_ context.Context, o client.Object) []reconcile.Request {
	l, ok := o.(*coordinationv1.Lease)
	if !ok {
		return nil
	}
	rep, err := replicareport.Decode(l)
	if err != nil {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []reconcile.Request
	for id, u := range rep.Uses {
		if e, ok := g.byClient[id]; ok && u.At.After(e.seen) && !u.At.Before(e.wakeFrom) {
			out = append(out, reconcile.Request{NamespacedName: e.key})
		}
	}
	return out
}
