package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/replicareport"
)

func TestPlanPropagation(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	report := func(applied string, renewedAgo time.Duration) replicareport.Report {
		return replicareport.Report{AppliedVersion: applied, RenewTime: now.Add(-renewedAgo), Timeout: 15 * time.Second}
	}
	trueFor := func(gen int64) *metav1.Condition {
		return &metav1.Condition{Type: iamv1.PropagatedCondition, Status: metav1.ConditionTrue, Reason: iamv1.PropagatedReason,
			Message: "all 2 token-server replicas applied generation 3 in 40ms", ObservedGeneration: gen}
	}
	kept := &iamv1.Propagation{Replicas: 2, Applied: 2, Latency: &metav1.Duration{Duration: 40 * time.Millisecond}}
	cases := []struct {
		name     string
		in       propagationInput
		status   metav1.ConditionStatus
		reason   string
		message  string
		replicas int32
		applied  int32
		latency  time.Duration
		observe  bool
		next     time.Time
	}{{
		name:   "record not yet written for the generation",
		in:     propagationInput{generation: 4, recordPending: true, reports: []replicareport.Report{report("100", 0)}},
		status: metav1.ConditionFalse, reason: iamv1.RecordPendingReason, message: "the credential records do not hold generation 4 yet",
		replicas: 1, next: now.Add(15 * time.Second),
	}, {
		name:   "no replica reporting",
		in:     propagationInput{generation: 4, versions: []string{"100"}},
		status: metav1.ConditionFalse, reason: iamv1.NoReplicasReason, message: "no token-server replica is reporting",
	}, {
		name: "two of three applied: the count, and a look again when the third times out",
		in: propagationInput{generation: 4, versions: []string{"100"}, changedAt: now.Add(-time.Second),
			reports: []replicareport.Report{report("100", 0), report("101", time.Second), report("99", 5*time.Second)}},
		status: metav1.ConditionFalse, reason: iamv1.PropagatingReason, message: "2 of 3 token-server replicas",
		replicas: 3, applied: 2, next: now.Add(10 * time.Second),
	}, {
		name: "a replica that timed out no longer counts",
		in: propagationInput{generation: 4, versions: []string{"100"}, changedAt: now.Add(-20 * time.Second),
			reports: []replicareport.Report{report("100", 0), report("101", 0), report("99", 15*time.Second)}},
		status: metav1.ConditionTrue, reason: iamv1.PropagatedReason, message: "all 2 token-server replicas applied generation 4 in 20s",
		replicas: 2, applied: 2, latency: 20 * time.Second, observe: true,
	}, {
		name: "all applied: latency from the change",
		in: propagationInput{generation: 4, versions: []string{"100"}, changedAt: now.Add(-45 * time.Millisecond),
			reports: []replicareport.Report{report("100", 0)}},
		status: metav1.ConditionTrue, reason: iamv1.PropagatedReason, message: "the 1 token-server replica applied generation 4 in 45ms",
		replicas: 1, applied: 1, latency: 45 * time.Millisecond, observe: true,
	}, {
		name: "an account: every record must be applied",
		in: propagationInput{generation: 2, versions: []string{"100", "250"},
			reports: []replicareport.Report{report("200", 0), report("300", 0)}},
		status: metav1.ConditionFalse, reason: iamv1.PropagatingReason, message: "1 of 2 token-server replicas",
		replicas: 2, applied: 1, next: now.Add(15 * time.Second),
	}, {
		name: "True for the generation stays so, whatever the reports say now",
		in: propagationInput{generation: 3, versions: []string{"500"}, previous: trueFor(3), previousStatus: kept,
			reports: []replicareport.Report{report("100", 0)}},
		status: metav1.ConditionTrue, reason: iamv1.PropagatedReason, message: "all 2 token-server replicas applied generation 3 in 40ms",
		replicas: 2, applied: 2, latency: 40 * time.Millisecond,
	}, {
		name: "True for an earlier generation is decided again",
		in: propagationInput{generation: 4, versions: []string{"500"}, previous: trueFor(3), previousStatus: kept,
			reports: []replicareport.Report{report("100", 0)}},
		status: metav1.ConditionFalse, reason: iamv1.PropagatingReason, message: "0 of 1 token-server replicas",
		replicas: 1, next: now.Add(15 * time.Second),
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := planPropagation(c.in, now)
			cond := o.condition
			if cond.Type != iamv1.PropagatedCondition || cond.Status != c.status || cond.Reason != c.reason || cond.Message != c.message {
				t.Errorf("condition %s %s %q, want %s %s %q", cond.Status, cond.Reason, cond.Message, c.status, c.reason, c.message)
			}
			if cond.ObservedGeneration != c.in.generation {
				t.Errorf("observedGeneration %d, want %d", cond.ObservedGeneration, c.in.generation)
			}
			if o.status.Replicas != c.replicas || o.status.Applied != c.applied {
				t.Errorf("%d of %d, want %d of %d", o.status.Applied, o.status.Replicas, c.applied, c.replicas)
			}
			var latency time.Duration
			if o.status.Latency != nil {
				latency = o.status.Latency.Duration
			}
			if latency != c.latency || o.observe != c.observe || o.done != (c.status == metav1.ConditionTrue) || !o.next.Equal(c.next) {
				t.Errorf("latency %s observe %v done %v next %s; want %s %v %v %s", latency, o.observe, o.done, o.next, c.latency, c.observe, c.status == metav1.ConditionTrue, c.next)
			}
		})
	}
}

// TestStampGenerations: a record says which generations it holds and
// since when: from the watch's first sight of a new credential generation,
// from the pass for an account change, and unchanged while neither moves.
func TestStampGenerations(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	seen, earlier := now.Add(-3*time.Second), now.Add(-time.Hour)
	obj := &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Generation: 4}}
	account := &iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
	cases := []struct {
		name string
		prev *record.Record
		seen time.Time
		want time.Time
	}{
		{"first record: the watch's time", nil, seen, seen},
		{"a new credential generation: the watch's time", &record.Record{Generation: 3, AccountGeneration: 2, ChangedAt: &earlier}, seen, seen},
		{"unknown to the watch (a restart): the pass's time", &record.Record{Generation: 3, AccountGeneration: 2}, time.Time{}, now},
		{"an account change: the pass's time, not the credential's old sighting", &record.Record{Generation: 4, AccountGeneration: 1, ChangedAt: &earlier}, earlier, now},
		{"nothing new: unchanged", &record.Record{Generation: 4, AccountGeneration: 2, ChangedAt: &earlier}, seen, earlier},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := &record.Record{}
			stampGenerations(&snapshot{obj: obj, account: account, generationSeenAt: c.seen}, rec, c.prev, now)
			if rec.Generation != 4 || rec.AccountGeneration != 2 || rec.ChangedAt == nil || !rec.ChangedAt.Equal(c.want) {
				t.Fatalf("generation %d/%d changed at %v, want 4/2 at %s", rec.Generation, rec.AccountGeneration, rec.ChangedAt, c.want)
			}
		})
	}
}
