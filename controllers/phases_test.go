package controllers

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
)

var phaseNow = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func phaseHasher(t *testing.T) *credential.Hasher {
	h, err := credential.NewHasher("k1", []credential.HashKey{{ID: "k1", Key: []byte(strings.Repeat("k", 32))}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// existingSecret is a workload Secret as Signet would have written it.
func existingSecret(h *credential.Hasher, value string, is issuance) *corev1.Secret {
	is.digest = h.Hash(credential.BindingDomain, value)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Annotations: is.annotations()},
		Data:       map[string][]byte{keyClientSecret: []byte(value)},
	}
}

func TestDesiredWorkload(t *testing.T) {
	h := phaseHasher(t)
	old, _ := credential.GenerateSecret(credential.ClientSecretKind)
	issued := phaseNow.Add(-2 * time.Hour)
	current := existingSecret(h, old, issuance{issuedAt: issued, reason: iamv1.IssuedReason, trigger: "v1"})
	edited := current.DeepCopy()
	edited.Data[keyClientSecret] = []byte(strings.Replace(old, old[10:12], "zz", 1))
	emptied := current.DeepCopy()
	delete(emptied.Data, keyClientSecret)
	afterRevoke := emptied.DeepCopy()
	afterRevoke.Annotations[annIssueReason] = iamv1.RevokedReason

	spec := func(mutate func(*iamv1.ClientCredential)) *iamv1.ClientCredential {
		cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
		cc.Spec.Rotation = &iamv1.RotationSpec{GracePeriod: duration(5 * time.Minute), Trigger: "v1"}
		cc.Status.LastRotationTime = &metav1.Time{Time: issued}
		if mutate != nil {
			mutate(cc)
		}
		return cc
	}
	tests := map[string]struct {
		obj        *iamv1.ClientCredential
		existing   *corev1.Secret
		wantReason string
		wantNew    bool
		wantGrace  bool
	}{
		"a first issue generates a secret": {
			spec(func(c *iamv1.ClientCredential) { c.Status.LastRotationTime = nil }), nil, iamv1.IssuedReason, true, false},
		"nothing due keeps the secret": {spec(nil), current, iamv1.IssuedReason, false, false},
		"a changed trigger rotates with grace": {
			spec(func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "v2" }), current, iamv1.RotatedReason, true, true},
		"a passed interval rotates with grace": {
			spec(func(c *iamv1.ClientCredential) { c.Spec.Rotation.Interval = duration(time.Hour) }), current, iamv1.RotatedReason, true, true},
		"an interval not yet passed keeps the secret": {
			spec(func(c *iamv1.ClientCredential) { c.Spec.Rotation.Interval = duration(3 * time.Hour) }), current, iamv1.IssuedReason, false, false},
		"a rotation with zero grace has no grace": {
			spec(func(c *iamv1.ClientCredential) {
				c.Spec.Rotation.Trigger, c.Spec.Rotation.GracePeriod = "v2", duration(0)
			}), current, iamv1.RotatedReason, true, false},
		"an edited value is replaced without grace":  {spec(nil), edited, iamv1.RepairedReason, true, false},
		"a deleted value is replaced without grace":  {spec(nil), emptied, iamv1.RepairedReason, true, false},
		"a deleted Secret is replaced without grace": {spec(nil), nil, iamv1.RepairedReason, true, false},
		"lifting a revocation issues a fresh secret": {spec(nil), afterRevoke, iamv1.IssuedReason, true, false},
		"a revoked credential holds no secret":       {spec(func(c *iamv1.ClientCredential) { c.Spec.Revoked = true }), current, iamv1.RevokedReason, false, false},
		"supplied public keys need no secret at all": {spec(func(c *iamv1.ClientCredential) {
			c.Spec.Type, c.Spec.PublicKeys = iamv1.PrivateKeyJWTType, &iamv1.PublicKeys{JWKS: "{}"}
		}), nil, iamv1.IssuedReason, false, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &ClientCredentialReconciler{}
			s := &credentialScope{obj: tc.obj, now: phaseNow, hasher: h}
			w, err := r.desiredWorkload(s, tc.existing)
			if err != nil {
				t.Fatal(err)
			}
			if w.reason != tc.wantReason {
				t.Errorf("reason = %q, want %q", w.reason, tc.wantReason)
			}
			isNew := w.issuedAt.Equal(phaseNow) && w.value != ""
			if isNew != tc.wantNew {
				t.Errorf("new secret = %v, want %v", isNew, tc.wantNew)
			}
			if isNew && (w.value == old || credential.CheckSecret(credential.ClientSecretKind, w.value) != nil) {
				t.Error("the new secret is not a fresh, well-formed secret")
			}
			if !isNew && tc.wantReason == iamv1.IssuedReason && tc.existing != nil && w.value != old {
				t.Error("a secret that is not due was changed")
			}
			if (w.graceUntil != nil) != tc.wantGrace {
				t.Errorf("grace = %v, want %v", w.graceUntil, tc.wantGrace)
			}
			if tc.obj.Spec.Revoked && w.value != "" {
				t.Error("a revoked credential kept its secret")
			}
		})
	}
}

func TestRollover(t *testing.T) {
	later := phaseNow.Add(time.Minute)
	earlier := phaseNow.Add(-time.Minute)
	issued := phaseNow.Add(-time.Second)
	e := func(id string, notAfter *time.Time) entry[string] { return entry[string]{item: id, notAfter: notAfter} }
	tests := map[string]struct {
		previous   []entry[string]
		current    string
		graceUntil *time.Time
		want       []string
		wantEpoch  bool
		wantGrace  bool
	}{
		"a first issue accepts only the new material":          {nil, "new", nil, []string{"new"}, false, false},
		"unchanged material keeps the previous one in grace":   {[]entry[string]{e("cur", nil), e("prev", &later)}, "cur", nil, []string{"cur", "prev"}, false, false},
		"unchanged material drops a previous one out of grace": {[]entry[string]{e("cur", nil), e("prev", &earlier)}, "cur", nil, []string{"cur"}, false, true},
		"new material with grace keeps the old one until then": {[]entry[string]{e("cur", nil)}, "new", &later, []string{"new", "cur"}, false, false},
		"new material without grace drops the old one and revokes its tokens": {
			[]entry[string]{e("cur", nil), e("prev", &later)}, "new", nil, []string{"new"}, true, false},
		"a grace deadline already past counts as no grace": {[]entry[string]{e("cur", nil)}, "new", &earlier, []string{"new"}, true, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s := &credentialScope{now: phaseNow, workload: &workload{value: tc.current, issuance: issuance{issuedAt: issued, graceUntil: tc.graceUntil}}}
			rec := &record.Record{}
			got := rollover(s, rec, tc.previous, func(id string) bool { return id == tc.current }, tc.current,
				func(id string, _ *time.Time) string { return id })
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("accepted %v, want %v", got, tc.want)
			}
			if (rec.RevokedBefore != nil) != tc.wantEpoch {
				t.Errorf("epoch moved = %v, want %v", rec.RevokedBefore != nil, tc.wantEpoch)
			}
			if tc.wantEpoch && !rec.RevokedBefore.Equal(issued) {
				t.Errorf("epoch = %v, want the new secret's issue time %v", rec.RevokedBefore, issued)
			}
			if s.graceEnded != tc.wantGrace {
				t.Errorf("graceEnded = %v, want %v", s.graceEnded, tc.wantGrace)
			}
		})
	}
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
			s := &credentialScope{obj: cc, now: phaseNow, clientID: "sgc_x", record: &record.Record{ExpiresAt: tc.expiresAt}}
			(&ClientCredentialReconciler{}).credentialConditions(s, nil)
			var conds []metav1.Condition
			s.conditions.apply(&conds, 1)
			ready := condOf(conds, iamv1.ReadyCondition)
			if ready.Status != tc.wantReady || ready.Reason != tc.wantReason {
				t.Errorf("Ready = %s/%s (%s), want %s/%s", ready.Status, ready.Reason, ready.Message, tc.wantReady, tc.wantReason)
			}
			if got := condOf(conds, iamv1.ExpiringSoonCondition) != nil; got != tc.wantWarning {
				t.Errorf("ExpiringSoon present = %v, want %v", got, tc.wantWarning)
			}
			if !s.next.Equal(tc.wantNext) {
				t.Errorf("next reconcile at %v, want %v", s.next, tc.wantNext)
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
