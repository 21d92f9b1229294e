package controllers

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
)

var phaseNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func TestPlanWorkload(t *testing.T) {
	issued := phaseNow.Add(-2 * time.Hour)
	tests := map[string]struct {
		change     func(w *world)
		wantReason string
		wantNew    bool
		wantGrace  bool
	}{
		"nothing due keeps the secret": {nil, iamv1.IssuedReason, false, false},
		"a changed trigger rotates with grace": {
			func(w *world) { w.edit(func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "v2" }) }, iamv1.RotatedReason, true, true},
		"a passed interval rotates with grace": {
			func(w *world) {
				w.edit(func(c *iamv1.ClientCredential) { c.Spec.Rotation.Interval = duration(time.Hour) })
			}, iamv1.RotatedReason, true, true},
		"an interval not yet passed keeps the secret": {
			func(w *world) {
				w.edit(func(c *iamv1.ClientCredential) { c.Spec.Rotation.Interval = duration(3 * time.Hour) })
			}, iamv1.IssuedReason, false, false},
		"a rotation with zero grace has no grace": {
			func(w *world) {
				w.edit(func(c *iamv1.ClientCredential) {
					c.Spec.Rotation.Trigger, c.Spec.Rotation.GracePeriod = "v2", duration(0)
				})
			}, iamv1.RotatedReason, true, false},
		"an edited value is replaced without grace": {
			func(w *world) {
				v := w.secret()
				w.workload.Data[keyClientSecret] = []byte(strings.Replace(v, v[10:12], "zz", 1))
			},
			iamv1.RepairedReason, true, false},
		"a deleted value is replaced without grace": {
			func(w *world) { delete(w.workload.Data, keyClientSecret) }, iamv1.RepairedReason, true, false},
		"a deleted Secret is replaced without grace": {func(w *world) { w.workload = nil }, iamv1.RepairedReason, true, false},
		"an edited issue time is restored from the record": {
			func(w *world) { w.workload.Annotations[annIssuedAt] = phaseNow.Format(time.RFC3339Nano) }, iamv1.IssuedReason, false, false},
		"a secret of another client_id is not adopted": {
			func(w *world) { w.workload.Data[keyClientID] = []byte("sgc_aaaaaaaaaaaaaaaaaaaaaaaaaa") }, iamv1.ReissuedReason, true, false},
		"a secret issued under a replaced account is reissued": {func(w *world) { w.createAccount() }, iamv1.ReissuedReason, true, false},
		"a secret whose record was lost is reissued":           {func(w *world) { clear(w.records) }, iamv1.ReissuedReason, true, false},
		"a revoked credential holds no secret": {
			func(w *world) { w.edit(func(c *iamv1.ClientCredential) { c.Spec.Revoked = true }) }, iamv1.RevokedReason, false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, issued)
			w.createAccount()
			w.createCredential(func(c *iamv1.ClientCredential) {
				c.Spec.Rotation = &iamv1.RotationSpec{GracePeriod: duration(5 * time.Minute), Trigger: "v1"}
			})
			if o := w.reconcile(); o.workload.reason != iamv1.IssuedReason || w.secret() == "" {
				t.Fatalf("first issue: reason %q", o.workload.reason)
			}
			old := w.secret()
			w.now = phaseNow
			if tc.change != nil {
				tc.change(w)
			}
			o := w.reconcile()
			wl := o.workload
			if wl.reason != tc.wantReason {
				t.Errorf("reason = %q, want %q", wl.reason, tc.wantReason)
			}
			isNew := wl.issuedAt.Equal(phaseNow) && wl.value != ""
			if isNew != tc.wantNew {
				t.Errorf("new secret = %v, want %v", isNew, tc.wantNew)
			}
			if isNew && (wl.value == old || credential.CheckSecret(credential.ClientSecretKind, wl.value) != nil) {
				t.Error("the new secret is not a fresh, well-formed secret")
			}
			if !isNew && tc.wantReason == iamv1.IssuedReason && (wl.value != old || !wl.issuedAt.Equal(issued)) {
				t.Errorf("a secret that is not due was changed (issued at %v)", wl.issuedAt)
			}
			if (wl.graceUntil != nil) != tc.wantGrace {
				t.Errorf("grace = %v, want %v", wl.graceUntil, tc.wantGrace)
			}
			oldOK := w.accepts(w.clientID(), old)
			if wantOld := !isNew && !w.cred.Spec.Revoked || tc.wantGrace; oldOK != wantOld {
				t.Errorf("old secret accepted = %v, want %v", oldOK, wantOld)
			}
			if ok := w.accepts(w.clientID(), w.secret()); w.secret() != "" && !ok {
				t.Error("the record does not accept the secret the workload Secret holds")
			}
		})
	}
}

func TestPlanFirstIssueAndSuppliedKeys(t *testing.T) {
	w := newWorld(t, phaseNow)
	w.createAccount()
	w.createCredential(nil)
	o := w.reconcile()
	if o.workload.reason != iamv1.IssuedReason || !o.writeWorkload || !o.writeRecord {
		t.Fatalf("first issue: %+v", o)
	}
	if got := w.reasons(); len(got) != 1 || got[0] != iamv1.IssuedReason {
		t.Errorf("events %v, want only Issued", got)
	}
	if o := w.reconcile(); o.writeWorkload || o.writeRecord || len(o.notices) > 0 {
		t.Errorf("a steady-state pass must write and announce nothing: workload %v, record %v, %v", o.writeWorkload, o.writeRecord, o.notices)
	}

	w.createCredential(func(c *iamv1.ClientCredential) {
		c.Spec.Type, c.Spec.PublicKeys = iamv1.PrivateKeyJWTType, &iamv1.PublicKeys{JWKS: "{}"}
	})
	w.workload = nil
	if o := w.reconcile(); o.workload.value != "" || o.workload.reason != iamv1.IssuedReason {
		t.Errorf("supplied public keys need no secret, got reason %q", o.workload.reason)
	}
}

// TestPlanRecordRebuild: a record that is missing while a secret was
// issued, unreadable, of an unknown version or for another credential is
// rebuilt fail-closed with a Warning.
func TestPlanRecordRebuild(t *testing.T) {
	for name, damage := range map[string]func(w *world){
		"missing":         func(w *world) { delete(w.records, w.clientID()) },
		"not JSON":        func(w *world) { w.records[w.clientID()] = []byte("{") },
		"unknown version": func(w *world) { w.records[w.clientID()] = []byte(`{"version":99}`) },
		"for another credential": func(w *world) {
			rec := w.record()
			rec.CredentialUID = "another"
			w.records[w.clientID()], _ = rec.Marshal()
		},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, phaseNow)
			w.createAccount()
			w.createCredential(nil)
			w.reconcile()
			old := w.secret()
			w.now = w.now.Add(time.Minute)
			damage(w)
			w.reconcile()
			if !slices.Contains(w.reasons(), iamv1.RecordRebuiltReason) || !slices.Contains(w.reasons(), iamv1.ReissuedReason) {
				t.Errorf("events %v, want RecordRebuilt and Reissued", w.reasons())
			}
			if w.accepts(w.clientID(), old) {
				t.Error("the secret from before the rebuild is still accepted")
			}
			rec := w.record()
			if rec == nil || !rec.IssuedBeforeEpoch(w.now.Add(-time.Nanosecond)) {
				t.Error("tokens from before the rebuild are still active")
			}
		})
	}
}

// TestPlanNotBeforeMoves: what moves TokensNotBefore, and what does not.
func TestPlanNotBeforeMoves(t *testing.T) {
	tests := map[string]struct {
		change func(w *world)
		want   bool
	}{
		"nothing":                {func(*world) {}, false},
		"a grant added":          {func(w *world) { w.rules = append(w.rules, *worldRule("b", "orders:write")) }, false},
		"a grant withdrawn":      {func(w *world) { w.rules = nil }, true},
		"the account disabled":   {func(w *world) { w.account.Spec.Disabled = true }, true},
		"the account deleted":    {func(w *world) { w.account = nil }, true},
		"the credential revoked": {func(w *world) { w.edit(func(c *iamv1.ClientCredential) { c.Spec.Revoked = true }) }, true},
		"a rotation with grace":  {func(w *world) { w.edit(func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "v2" }) }, false},
		"a rotation without grace": {func(w *world) {
			w.edit(func(c *iamv1.ClientCredential) { c.Spec.Rotation = &iamv1.RotationSpec{Trigger: "v2"} })
		}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, phaseNow)
			w.createAccount()
			w.rules = []iamv1.AccessRule{*worldRule("a", "orders:read")}
			w.createCredential(func(c *iamv1.ClientCredential) {
				c.Spec.Rotation = &iamv1.RotationSpec{GracePeriod: duration(time.Hour), Trigger: "v1"}
			})
			w.reconcile()
			w.now = w.now.Add(time.Minute)
			tc.change(w)
			w.reconcile()
			if got := w.record().IssuedBeforeEpoch(w.now.Add(-time.Nanosecond)); got != tc.want {
				t.Errorf("tokens issued before the change inactive = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPlanKillsWhatWasIssuedAtTheSameInstant: a kill reaches a secret
// issued at the very instant, or later by a clock that runs ahead (another
// manager replica), and the secret issued in its place is valid.
func TestPlanKillsWhatWasIssuedAtTheSameInstant(t *testing.T) {
	for name, skew := range map[string]time.Duration{"same instant": 0, "clock behind": -time.Second} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, phaseNow)
			w.createAccount()
			w.createCredential(nil)
			w.reconcile()
			old := w.secret()
			w.now = phaseNow.Add(skew)
			w.createAccount()
			w.reconcile()
			if w.accepts(w.clientID(), old) {
				t.Error("the secret of the replaced account is still accepted")
			}
			w.now = phaseNow.Add(time.Millisecond)
			if !w.accepts(w.clientID(), w.secret()) || w.secret() == old {
				t.Error("the reissued secret is not accepted")
			}
		})
	}
}

func worldRule(name string, scopes ...string) *iamv1.AccessRule {
	r := rule(name, []string{"svc"}, scopes...)
	r.Namespace = worldNS
	return r
}

func TestCredentialConditions(t *testing.T) {
	at := func(d time.Duration) *time.Time { t := phaseNow.Add(d); return &t }
	tests := map[string]struct {
		revoked     bool
		validFor    time.Duration
		expiresAt   *time.Time
		wantReady   metav1.ConditionStatus
		wantReason  string
		wantWarning bool
		wantNext    time.Time
	}{
		"a credential without expiry is ready": {false, 0, nil, metav1.ConditionTrue, iamv1.ReadyReason, false, time.Time{}},
		"a credential far from expiry is ready and wakes up when the warning starts": {
			false, 30 * time.Hour, at(29 * time.Hour), metav1.ConditionTrue, iamv1.ReadyReason, false, phaseNow.Add(19 * time.Hour)},
		"a credential in its last third warns": {false, 30 * time.Hour, at(9 * time.Hour), metav1.ConditionTrue, iamv1.ReadyReason, true, phaseNow.Add(9 * time.Hour)},
		"the warning is at most a week":        {false, 720 * time.Hour, at(8 * 24 * time.Hour), metav1.ConditionTrue, iamv1.ReadyReason, false, phaseNow.Add(24 * time.Hour)},
		"an expired credential is not ready":   {false, time.Hour, at(-time.Second), metav1.ConditionFalse, iamv1.ExpiredReason, false, time.Time{}},
		"a revoked credential is not ready":    {true, 0, nil, metav1.ConditionFalse, iamv1.RevokedReason, false, time.Time{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
			cc.Spec.Revoked = tc.revoked
			if tc.validFor > 0 {
				cc.Spec.ValidFor = duration(tc.validFor)
			}
			s := &snapshot{obj: cc, clientID: "sgc_x"}
			o := &outcome{now: phaseNow, record: &record.Record{ExpiresAt: tc.expiresAt}}
			credentialConditions(s, o)
			var conds []metav1.Condition
			o.conditions.apply(&conds, 1)
			ready := condOf(conds, iamv1.ReadyCondition)
			if ready.Status != tc.wantReady || ready.Reason != tc.wantReason {
				t.Errorf("Ready = %s/%s (%s), want %s/%s", ready.Status, ready.Reason, ready.Message, tc.wantReady, tc.wantReason)
			}
			if got := condOf(conds, iamv1.ExpiringSoonCondition) != nil; got != tc.wantWarning {
				t.Errorf("ExpiringSoon present = %v, want %v", got, tc.wantWarning)
			}
			if !o.next.Equal(tc.wantNext) {
				t.Errorf("next reconcile at %v, want %v", o.next, tc.wantNext)
			}
		})
	}
}

func TestRequeueAfterLandsJustAfterTheMoment(t *testing.T) {
	if d := requeueAfter(phaseNow, time.Time{}); d != 0 {
		t.Fatalf("no timed work must not requeue, got %v", d)
	}
	for _, ahead := range []time.Duration{0, time.Second, time.Hour, 720 * time.Hour} {
		for range 50 {
			d := requeueAfter(phaseNow, phaseNow.Add(ahead))
			if d <= ahead || d > ahead+100*time.Millisecond+min(ahead/20, 10*time.Second) {
				t.Fatalf("requeueAfter(%v) = %v: must land just after the moment, jittered by at most 5%% (10 s)", ahead, d)
			}
		}
	}
}
