package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/replicareport"
)

// TestPlanRetirement drives the retirement of a previous secret through
// plan: a rotation at phaseNow with a 1h grace period, then one pass at
// `at` after it, with what the replicas report and the rollout restart
// targets say at that moment.
func TestPlanRetirement(t *testing.T) {
	const addr = "10.0.0.7"
	whenUnused := &iamv1.RetirementSpec{Policy: iamv1.RetireWhenUnused, UnusedFor: duration(5 * time.Minute)}
	// reported is one live replica that wrote its report at `at`, having
	// seen the previous secret used at useAt (none when zero).
	reported := func(useAt time.Duration) func(now time.Time) []replicareport.Report {
		return func(now time.Time) []replicareport.Report {
			rep := replicareport.Report{Replica: "a", RenewTime: now, Timeout: 15 * time.Second, Uses: map[string]replicareport.Use{}}
			if useAt != 0 {
				rep.Uses["CLIENT"] = replicareport.Use{At: phaseNow.Add(useAt).Truncate(time.Second), Address: addr}
			}
			return []replicareport.Report{rep}
		}
	}
	tests := map[string]struct {
		policy   *iamv1.RetirementSpec
		at       time.Duration
		reports  func(now time.Time) []replicareport.Report
		rollouts []rollout
		// wantKept: the previous secret is still accepted after the pass.
		wantKept    bool
		wantRetired string // the retirement reason recorded, "" for none
		wantInUse   string // PreviousSecretInUse's reason, "" when absent
		wantWarning bool
		// wantNextBy bounds when plan looks again (from the rotation).
		wantNextBy time.Duration
	}{
		"AfterGrace keeps an unused previous secret until the deadline": {
			policy: nil, at: 30 * time.Minute, reports: reported(0), wantKept: true, wantNextBy: 31 * time.Minute},
		"AfterGrace retires it at the deadline": {
			policy: nil, at: time.Hour, reports: reported(0), wantRetired: iamv1.GraceEndedReason},
		"AfterGrace still names a consumer on the previous secret": {
			policy: nil, at: 30 * time.Minute, reports: reported(29 * time.Minute), wantKept: true, wantInUse: iamv1.InUseReason},
		"WhenUnused retires it once unused for unusedFor since the rotation": {
			policy: whenUnused, at: 5*time.Minute + time.Second, reports: reported(0), wantRetired: iamv1.UnusedReason},
		"WhenUnused waits for unusedFor to pass": {
			policy: whenUnused, at: 4 * time.Minute, reports: reported(0), wantKept: true, wantNextBy: 5 * time.Minute},
		"WhenUnused counts from the last use": {
			policy: whenUnused, at: 12 * time.Minute, reports: reported(10 * time.Minute), wantKept: true,
			wantInUse: iamv1.InUseReason, wantNextBy: 15 * time.Minute},
		"WhenUnused retires it unusedFor after the last use": {
			policy: whenUnused, at: 15*time.Minute + time.Second, reports: reported(10 * time.Minute), wantRetired: iamv1.UnusedReason},
		"a use before the rotation does not count": {
			policy: whenUnused, at: 5*time.Minute + time.Second, reports: reported(-time.Minute), wantRetired: iamv1.UnusedReason},
		"WhenUnused keeps it while no replica reports": {
			policy: whenUnused, at: 30 * time.Minute, reports: func(time.Time) []replicareport.Report { return nil }, wantKept: true},
		"WhenUnused keeps it while a replica has not reported since the quiet span ended": {
			policy: whenUnused, at: 5*time.Minute + time.Second,
			reports: func(now time.Time) []replicareport.Report {
				reps := reported(0)(now)
				late := reported(0)(now.Add(-3 * time.Second))[0]
				late.Replica = "b"
				return append(reps, late)
			},
			wantKept: true, wantNextBy: 5*time.Minute + 4*time.Second},
		"a dead replica's report does not hold it": {
			policy: whenUnused, at: 5*time.Minute + time.Second,
			reports: func(now time.Time) []replicareport.Report {
				dead := reported(4 * time.Minute)(now.Add(-time.Minute))[0]
				dead.Replica = "b"
				return append(reported(0)(now), dead)
			},
			wantRetired: iamv1.UnusedReason},
		"a truncated report counts as a use when it was written": {
			policy: whenUnused, at: 10 * time.Minute,
			reports: func(now time.Time) []replicareport.Report {
				reps := reported(0)(now)
				reps[0].Truncated = true
				return reps
			},
			wantKept: true, wantInUse: iamv1.InUseReason},
		"WhenUnused waits for a rollout restart target to roll out": {
			policy: whenUnused, at: 30 * time.Minute, reports: reported(0),
			rollouts: []rollout{{kind: "Deployment", name: "api", done: false, why: "its rollout is not complete"}},
			wantKept: true, wantNextBy: 30*time.Minute + rolloutPoll},
		"WhenUnused retires it once every target rolled out": {
			policy: whenUnused, at: 30 * time.Minute, reports: reported(0),
			rollouts:    []rollout{{kind: "Deployment", name: "api", done: true}, {kind: "StatefulSet", name: "db", done: true}},
			wantRetired: iamv1.UnusedReason},
		"a consumer still on it near the deadline is warned about": {
			policy: whenUnused, at: 58 * time.Minute, reports: reported(57 * time.Minute), wantKept: true,
			wantInUse: iamv1.DeadlineNearReason, wantWarning: true},
		"WhenUnused retires it at the deadline while still in use": {
			policy: whenUnused, at: time.Hour, reports: reported(59 * time.Minute), wantRetired: iamv1.GraceEndedReason},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, phaseNow.Add(-2*time.Hour))
			w.createAccount()
			w.createCredential(func(c *iamv1.ClientCredential) {
				c.Spec.Rotation = &iamv1.RotationSpec{GracePeriod: duration(time.Hour), Trigger: "v1", Retirement: tc.policy}
			})
			w.reconcile()
			old := w.secret()
			w.now = phaseNow
			w.edit(func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "v2" })
			if o := w.reconcile(); o.workload.reason != iamv1.RotatedReason || !w.accepts(w.clientID(), old) {
				t.Fatalf("the rotation did not keep the previous secret in grace (reason %q)", o.workload.reason)
			}

			w.now = phaseNow.Add(tc.at)
			reps := tc.reports(w.now)
			for i := range reps {
				if u, ok := reps[i].Uses["CLIENT"]; ok {
					delete(reps[i].Uses, "CLIENT")
					reps[i].Uses[w.clientID()] = u
				}
			}
			w.consumers = usesOf(reps, w.clientID(), w.now)
			w.consumers.rollouts = tc.rollouts
			o := w.reconcile()

			if kept := w.accepts(w.clientID(), old); kept != tc.wantKept {
				t.Errorf("previous secret accepted = %v, want %v", kept, tc.wantKept)
			}
			if !w.accepts(w.clientID(), w.secret()) {
				t.Error("the current secret is not accepted")
			}
			gotRetired := ""
			if o.retired != nil {
				gotRetired = o.retired.Reason
				if o.retired.Message == "" || o.retired.At.IsZero() || o.retired.At.After(w.now) {
					t.Errorf("retirement %+v lacks a message or a time no later than now", o.retired)
				}
			}
			if gotRetired != tc.wantRetired {
				t.Errorf("retired = %q, want %q", gotRetired, tc.wantRetired)
			}
			if got := w.record().PreviousRetired; o.retired != nil && (got == nil || *got != *o.retired) {
				t.Errorf("the record keeps retirement %+v, want %+v", got, o.retired)
			}
			if (o.retired != nil) == tc.wantKept {
				t.Error("a kept previous secret must record no retirement, and a dropped one must record it")
			}
			checkInUse(t, o, tc.wantInUse, addr)
			if got := hasNotice(o, iamv1.DeadlineNearReason, true); got != tc.wantWarning {
				t.Errorf("DeadlineNear Warning = %v, want %v (notices %v)", got, tc.wantWarning, o.notices)
			}
			if tc.wantNextBy != 0 && (o.next.IsZero() || o.next.After(phaseNow.Add(tc.wantNextBy))) {
				t.Errorf("next look at %v, want by %v", o.next.Sub(phaseNow), tc.wantNextBy)
			}
			if tc.wantKept && (o.next.IsZero() || o.next.After(phaseNow.Add(time.Hour))) {
				t.Errorf("a kept previous secret must be looked at again by its deadline; next at %v", o.next.Sub(phaseNow))
			}
		})
	}
}

func checkInUse(t *testing.T, o *outcome, wantReason, addr string) {
	t.Helper()
	c := o.conditions.previousInUse
	switch {
	case wantReason == "" && c != nil:
		t.Errorf("PreviousSecretInUse = %s (%s), want absent", c.Reason, c.Message)
	case wantReason != "" && c == nil:
		t.Errorf("PreviousSecretInUse absent, want %s", wantReason)
	case c != nil && c.Reason != wantReason:
		t.Errorf("PreviousSecretInUse reason %s, want %s", c.Reason, wantReason)
	case c != nil && (!strings.Contains(c.Message, "last used at") || !strings.Contains(c.Message, addr) && !strings.Contains(c.Message, "address not reported")):
		t.Errorf("PreviousSecretInUse message %q names neither the time nor the address of the last use", c.Message)
	}
}

func hasNotice(o *outcome, reason string, warning bool) bool {
	for _, n := range o.notices {
		if n.reason == reason && n.warning == warning {
			return true
		}
	}
	return false
}

func TestWarningWindow(t *testing.T) {
	for _, tc := range []struct{ grace, unusedFor, want time.Duration }{
		{time.Hour, 5 * time.Minute, 5 * time.Minute},
		{5 * time.Minute, 5 * time.Minute, 75 * time.Second},
		{24 * time.Hour, time.Hour, time.Hour},
	} {
		if got := warningWindow(tc.grace, tc.unusedFor); got != tc.want {
			t.Errorf("warningWindow(%v, %v) = %v, want %v", tc.grace, tc.unusedFor, got, tc.want)
		}
	}
}

// TestReportsWakeOnlyNewerUses: a report wakes a credential in grace only
// for a use that changes what its last pass decided, and never one that
// is not in grace.
func TestReportsWakeOnlyNewerUses(t *testing.T) {
	w := newWorld(t, phaseNow.Add(-time.Hour))
	w.createAccount()
	w.createCredential(func(c *iamv1.ClientCredential) {
		c.Spec.Rotation = &iamv1.RotationSpec{GracePeriod: duration(time.Hour), Trigger: "v1"}
	})
	w.reconcile()
	w.now = phaseNow
	w.edit(func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "v2" })
	seen := phaseNow.Add(time.Minute)
	w.consumers = &consumers{replicas: 1, reportedUntil: seen, lastUse: &replicareport.Use{At: seen, Address: "10.0.0.1"}}
	w.reconcile() // the rotation: the record had no previous secret to observe uses of
	o := w.reconcile()

	var g inGrace
	g.track(o.snapshot, o)
	wakes := func(uses map[string]replicareport.Use) int {
		rep := replicareport.Report{Replica: "a", RenewTime: phaseNow, Timeout: time.Minute, Uses: uses}
		return len(g.requests(context.Background(), rep.Lease("signet")))
	}
	id := w.clientID()
	if n := wakes(map[string]replicareport.Use{id: {At: seen, Address: "10.0.0.1"}}); n != 0 {
		t.Errorf("a use already seen woke %d", n)
	}
	if n := wakes(map[string]replicareport.Use{id: {At: seen.Add(time.Second), Address: "10.0.0.1"}}); n != 0 {
		t.Errorf("a use within unusedFor of the one seen, which changes nothing, woke %d", n)
	}
	if n := wakes(map[string]replicareport.Use{id: {At: seen.Add(iamv1.DefaultUnusedFor), Address: "10.0.0.1"}}); n != 1 {
		t.Errorf("a use unusedFor after the one seen woke %d, want 1", n)
	}
	if n := wakes(map[string]replicareport.Use{"sgc_other": {At: seen.Add(time.Hour), Address: "10.0.0.1"}}); n != 0 {
		t.Errorf("a use of a client not in grace woke %d", n)
	}
	g.forget(id)
	if n := wakes(map[string]replicareport.Use{id: {At: seen.Add(time.Hour), Address: "10.0.0.1"}}); n != 0 {
		t.Errorf("a forgotten credential woke %d", n)
	}
}
