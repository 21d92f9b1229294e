package controllers

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/publickeys"
	"github.com/signet-iam/signet/internal/record"
)

func TestClientSecretIsIssuedToWorkloadSecretAndRecord(t *testing.T) {
	h := newHarness(t)
	h.create(account("billing"))
	h.create(rule("billing-reader", []string{"billing"}, "billing:read", "orders:read"))
	cc := clientCredential("billing", "billing", iamv1.ClientSecretType)
	cc.Spec.SecretTemplate = &iamv1.SecretTemplate{Labels: map[string]string{"team": "payments"}, Annotations: map[string]string{"note": "x"}}
	h.create(cc)
	h.waitReady(cc)

	g := h.g
	ws := h.workloadSecret(cc)
	secret := string(ws.Data[keyClientSecret])
	g.Expect(credential.CheckSecret(credential.ClientSecretKind, secret)).To(Succeed())
	g.Expect(string(ws.Data[keyClientID])).To(Equal(cc.Status.ClientID))
	g.Expect(credential.ValidClientID(cc.Status.ClientID)).To(BeTrue())
	g.Expect(string(ws.Data[keyTokenURL])).To(Equal(testIssuer + "/oauth2/token"))
	g.Expect(string(ws.Data[keyIssuer])).To(Equal(testIssuer))
	g.Expect(ws.Labels).To(HaveKeyWithValue("team", "payments"))
	g.Expect(ws.Annotations).To(HaveKeyWithValue("note", "x"))
	g.Expect(ws.Type).To(Equal(workloadSecretType))
	g.Expect(metav1.GetControllerOf(ws).UID).To(Equal(cc.UID))

	rec := h.record(g, cc)
	g.Expect(rec.ClientID).To(Equal(cc.Status.ClientID))
	g.Expect(rec.Subject).To(Equal("signet:" + h.ns + ":billing"))
	g.Expect(rec.Scopes).To(Equal([]string{"billing:read", "orders:read"}))
	g.Expect(rec.Secrets).To(HaveLen(1))
	g.Expect(h.accepts(rec, secret)).To(BeTrue(), "the record does not accept the workload Secret's secret")
	g.Expect(string(mustMarshal(t, rec))).NotTo(ContainSubstring(secret))
	g.Expect(cc.Status.SecretName).To(Equal("billing"))
	g.Expect(cc.Status.LastRotationTime).NotTo(BeNil())
	g.Expect(cc.Finalizers).To(ContainElement(credentialFinalizer))

	// The account's status reports what the rules grant.
	sa := account("billing")
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(h.ctx, h.key("billing"), sa)).To(Succeed())
		g.Expect(sa.Status.Scopes).To(Equal([]string{"billing:read", "orders:read"}))
		g.Expect(sa.Status.CredentialCount).To(BeEquivalentTo(1))
		g.Expect(sa.Status.Subject).To(Equal(rec.Subject))
	}).Should(Succeed())
}

func mustMarshal(t *testing.T, rec *record.Record) []byte {
	data, err := rec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestAPIKeyAndGeneratedKeyPairAreIssued(t *testing.T) {
	h := newHarness(t)
	h.create(account("svc"))
	key := clientCredential("svc-key", "svc", iamv1.APIKeyType)
	jwt := clientCredential("svc-jwt", "svc", iamv1.PrivateKeyJWTType)
	h.create(key)
	h.create(jwt)
	h.waitReady(key)
	h.waitReady(jwt)
	g := h.g

	apiKey := string(h.workloadSecret(key).Data[keyAPIKey])
	g.Expect(credential.CheckSecret(credential.APIKeyKind, apiKey)).To(Succeed())
	g.Expect(h.workloadSecret(key).Data).NotTo(HaveKey(keyClientSecret))
	g.Expect(h.accepts(h.record(g, key), apiKey)).To(BeTrue())
	g.Expect(h.record(g, key).Type).To(Equal(record.TypeAPIKey))

	ws := h.workloadSecret(jwt)
	pub, err := publickeys.FromPrivateKeyPEM(string(ws.Data[keyPrivateKey]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(ws.Data[keyKeyID])).To(Equal(pub.ID))
	rec := h.record(g, jwt)
	g.Expect(rec.Secrets).To(BeEmpty())
	g.Expect(rec.PublicKeys).To(HaveLen(1))
	g.Expect(string(rec.PublicKeys[0].JWK)).To(MatchJSON(string(pub.JWK)))
	g.Expect(string(rec.PublicKeys[0].JWK)).NotTo(ContainSubstring(`"d"`))
}

func TestSuppliedPublicKeysAreNormalisedAndBadOnesStall(t *testing.T) {
	h := newHarness(t)
	h.create(account("signer"))
	privPEM, _ := publickeys.GeneratePrivateKeyPEM()
	pub, _ := publickeys.FromPrivateKeyPEM(privPEM)
	cc := clientCredential("signer", "signer", iamv1.PrivateKeyJWTType)
	cc.Spec.PublicKeys = &iamv1.PublicKeys{JWKS: `{"keys":[` + string(pub.JWK) + `]}`}
	h.create(cc)
	h.waitReady(cc)
	g := h.g
	g.Expect(h.workloadSecret(cc).Data).NotTo(HaveKey(keyPrivateKey), "Signet must not hold a private key for supplied keys")
	g.Expect(h.record(g, cc).PublicKeys).To(HaveLen(1))

	// A JWKS the CRD accepts but Signet cannot use (an EC key whose
	// point is not on its curve): stall, keep the last good keys.
	update(h, cc, func(c *iamv1.ClientCredential) {
		c.Spec.PublicKeys = &iamv1.PublicKeys{JWKS: `{"keys":[{"kty":"EC","crv":"P-256","x":"c2VjcmV0c2VjcmV0c2VjcmV0","y":"c2VjcmV0c2VjcmV0c2VjcmV0"}]}`}
	})
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.StalledCondition, metav1.ConditionTrue, iamv1.InvalidPublicKeysReason)
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.InvalidPublicKeysReason)
	})
	g.Expect(h.record(g, cc).PublicKeys).To(HaveLen(1), "the last valid keys must stay in force")
}

func TestGrantChangesReachTheRecord(t *testing.T) {
	h := newHarness(t)
	h.create(account("app"))
	cc := clientCredential("app", "app", iamv1.ClientSecretType)
	h.create(cc)
	h.waitReady(cc)
	g := h.g

	measure := func(what string, change func(), want []string) {
		t.Helper()
		start := time.Now()
		change()
		g.Eventually(func(g Gomega) {
			g.Expect(h.record(g, cc).Scopes).To(Equal(want))
		}).WithTimeout(5 * time.Second).WithPolling(10 * time.Millisecond).Should(Succeed())
		// Logged, not asserted: the one-second target is measured by
		// make chaos, where a busy machine cannot make it flake.
		t.Logf("%s reached the record in %v", what, time.Since(start))
	}
	r1 := rule("r1", []string{"app"}, "orders:read")
	measure("a new rule", func() { h.create(r1) }, []string{"orders:read"})
	r2 := rule("r2", []string{"app", "other"}, "billing:read")
	measure("a second rule", func() { h.create(r2) }, []string{"billing:read", "orders:read"})
	measure("a changed rule", func() {
		update(h, r1, func(r *iamv1.AccessRule) { r.Spec.Scopes = []string{"orders:write"} })
	}, []string{"billing:read", "orders:write"})
	measure("a subject removed from a rule", func() {
		update(h, r2, func(r *iamv1.AccessRule) { r.Spec.Subjects = []iamv1.Subject{{Kind: "ServiceAccount", Name: "other"}} })
	}, []string{"orders:write"})
	measure("a deleted rule", func() { g.Expect(k8s.Delete(h.ctx, r1)).To(Succeed()) }, nil)

	// An expired grant is excluded once its time comes.
	soon := metav1.NewTime(h.clock.Now().Add(time.Hour))
	r3 := rule("r3", []string{"app"}, "temp:read")
	r3.Spec.ExpiresAt = &soon
	measure("an expiring rule", func() { h.create(r3) }, []string{"temp:read"})
	h.clock.advance(time.Hour + time.Second)
	h.poke(cc)
	h.poke(r3)
	g.Eventually(func(g Gomega) { g.Expect(h.record(g, cc).Scopes).To(BeEmpty()) }).Should(Succeed())
	g.Eventually(func(g Gomega) {
		got := &iamv1.AccessRule{}
		g.Expect(k8s.Get(h.ctx, h.key("r3"), got)).To(Succeed())
		expectCondition(g, got.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.ExpiredReason)
	}).Should(Succeed())
}

func TestAccessRuleReportsMissingSubjects(t *testing.T) {
	h := newHarness(t)
	r := rule("r", []string{"present", "absent"}, "x")
	h.create(account("present"))
	h.create(r)
	g := h.g
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(h.ctx, h.key("r"), r)).To(Succeed())
		g.Expect(r.Status.FoundSubjects).To(Equal([]string{"present"}))
		g.Expect(r.Status.MissingSubjects).To(Equal([]string{"absent"}))
		expectCondition(g, r.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.SubjectsMissingReason)
	}).Should(Succeed())
	h.create(account("absent"))
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(h.ctx, h.key("r"), r)).To(Succeed())
		g.Expect(r.Status.MissingSubjects).To(BeEmpty())
		expectCondition(g, r.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionTrue, iamv1.ReadyReason)
	}).Should(Succeed())
}

func TestDisablingExpiringAndDeletingTheAccountStopTheCredential(t *testing.T) {
	h := newHarness(t)
	sa := account("ci")
	sa.Spec.DaysValid = ptrTo[int32](30)
	h.create(sa)
	cc := clientCredential("ci", "ci", iamv1.ClientSecretType)
	h.create(cc)
	h.waitReady(cc)
	g := h.g
	g.Expect(h.record(g, cc).ExpiresAt).NotTo(BeNil(), "the account's expiry bounds the credential")

	start := time.Now()
	update(h, sa, func(s *iamv1.ServiceAccount) { s.Spec.Disabled = true })
	var epoch time.Time
	g.Eventually(func(g Gomega) {
		rec := h.record(g, cc)
		g.Expect(rec.Disabled).To(BeTrue())
		g.Expect(rec.TokensNotBefore).NotTo(BeNil())
		g.Expect(rec.TokensNotBefore.Before(start)).To(BeFalse(), "disabling must move the tokens' not-before")
		epoch = *rec.TokensNotBefore
	}).WithTimeout(5 * time.Second).WithPolling(10 * time.Millisecond).Should(Succeed())
	t.Logf("disabling reached the record in %v", time.Since(start))
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.ServiceAccountNotReadyReason)
	})

	update(h, sa, func(s *iamv1.ServiceAccount) { s.Spec.Disabled = false })
	g.Eventually(func(g Gomega) {
		rec := h.record(g, cc)
		g.Expect(rec.Disabled).To(BeFalse())
		g.Expect(rec.TokensNotBefore.Equal(epoch)).To(BeTrue(), "re-enabling must not revive tokens issued before the account was disabled")
	}).Should(Succeed())

	h.clock.advance(31 * 24 * time.Hour)
	h.poke(cc)
	h.poke(sa)
	g.Eventually(func(g Gomega) { g.Expect(h.record(g, cc).Disabled).To(BeTrue()) }).Should(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(h.ctx, h.key("ci"), sa)).To(Succeed())
		expectCondition(g, sa.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.ExpiredReason)
	}).Should(Succeed())

	other := account("gone")
	h.create(other)
	cc2 := clientCredential("gone", "gone", iamv1.ClientSecretType)
	h.create(cc2)
	h.waitReady(cc2)
	g.Expect(k8s.Delete(h.ctx, other)).To(Succeed())
	g.Eventually(func(g Gomega) { g.Expect(h.record(g, cc2).Disabled).To(BeTrue()) }).Should(Succeed())
	h.waitFor(cc2, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.ServiceAccountNotFoundReason)
	})
}

func TestScheduledRotationKeepsThePreviousSecretForTheGracePeriod(t *testing.T) {
	h := newHarness(t)
	h.create(account("svc"))
	cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
	cc.Spec.Rotation = &iamv1.RotationSpec{Interval: duration(24 * time.Hour), GracePeriod: duration(10 * time.Minute)}
	h.create(cc)
	h.waitReady(cc)
	g := h.g
	first := string(h.workloadSecret(cc).Data[keyClientSecret])
	g.Expect(cc.Status.NextRotationTime.Sub(cc.Status.LastRotationTime.Time)).To(Equal(24 * time.Hour))

	h.clock.advance(24*time.Hour + time.Second)
	h.poke(cc)
	var second string
	g.Eventually(func(g Gomega) {
		second = string(h.workloadSecret(cc).Data[keyClientSecret])
		g.Expect(second).NotTo(Equal(first))
		rec := h.record(g, cc)
		g.Expect(h.accepts(rec, second)).To(BeTrue())
		g.Expect(h.accepts(rec, first)).To(BeTrue(), "the previous secret must work during the grace period")
	}).Should(Succeed())
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		g.Expect(cc.Status.PreviousSecretValidUntil).NotTo(BeNil())
		g.Expect(cc.Status.PreviousSecretValidUntil.Sub(h.clock.Now())).To(BeNumerically("~", 10*time.Minute, time.Minute))
	})

	h.clock.advance(10*time.Minute + time.Second)
	h.poke(cc)
	g.Eventually(func(g Gomega) {
		rec := h.record(g, cc)
		g.Expect(rec.Secrets).To(HaveLen(1), "the previous hash must leave the record after its grace")
		g.Expect(h.accepts(rec, first)).To(BeFalse())
	}).Should(Succeed())
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) { g.Expect(cc.Status.PreviousSecretValidUntil).To(BeNil()) })
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.RotatedReason)))
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.GraceEndedReason)))
}

func TestTriggerRotatesAtOnceAndWithoutGraceRevokesOldTokens(t *testing.T) {
	h := newHarness(t)
	h.create(account("svc"))
	cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
	cc.Spec.Rotation = &iamv1.RotationSpec{GracePeriod: duration(0), Trigger: "v1"}
	h.create(cc)
	h.waitReady(cc)
	g := h.g
	first := string(h.workloadSecret(cc).Data[keyClientSecret])
	firstEpoch := *h.record(g, cc).TokensNotBefore

	update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "v2" })
	g.Eventually(func(g Gomega) {
		ws := h.workloadSecret(cc)
		second := string(ws.Data[keyClientSecret])
		g.Expect(second).NotTo(Equal(first))
		rec := h.record(g, cc)
		g.Expect(rec.Secrets).To(HaveLen(1))
		g.Expect(h.accepts(rec, first)).To(BeFalse(), "without grace the old secret must stop at once")
		g.Expect(rec.TokensNotBefore.After(firstEpoch)).To(BeTrue(), "without grace tokens of the old secret must become inactive")
		issued := parseIssuance(ws.Annotations).issuedAt
		g.Expect(rec.TokensNotBefore.Equal(issued)).To(BeTrue())
	}).Should(Succeed())
	g.Expect(testutil.ToFloat64(credentialRotations.WithLabelValues(h.ns, iamv1.IssuedReason))).To(BeEquivalentTo(1))
	g.Expect(testutil.ToFloat64(credentialRotations.WithLabelValues(h.ns, iamv1.RotatedReason))).To(BeEquivalentTo(1))
}

func TestRevokeRemovesTheSecretAndUnrevokeIssuesANewOne(t *testing.T) {
	h := newHarness(t)
	h.create(account("okta"))
	cc := clientCredential("key", "okta", iamv1.APIKeyType)
	h.create(cc)
	h.waitReady(cc)
	g := h.g
	first := string(h.workloadSecret(cc).Data[keyAPIKey])

	update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Revoked = true })
	var epoch time.Time
	g.Eventually(func(g Gomega) {
		rec := h.record(g, cc)
		g.Expect(rec.Revoked).To(BeTrue())
		g.Expect(rec.Secrets).To(BeEmpty())
		g.Expect(rec.TokensNotBefore).NotTo(BeNil())
		epoch = *rec.TokensNotBefore
		g.Expect(h.workloadSecret(cc).Data).NotTo(HaveKey(keyAPIKey))
	}).Should(Succeed())
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.RevokedReason)
	})
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.RevokedReason)))

	update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Revoked = false })
	h.waitReady(cc)
	g.Eventually(func(g Gomega) {
		second := string(h.workloadSecret(cc).Data[keyAPIKey])
		g.Expect(second).NotTo(BeEmpty())
		g.Expect(second).NotTo(Equal(first))
		rec := h.record(g, cc)
		g.Expect(rec.Revoked).To(BeFalse())
		g.Expect(h.accepts(rec, second)).To(BeTrue())
		g.Expect(h.accepts(rec, first)).To(BeFalse())
		g.Expect(rec.TokensNotBefore.Before(epoch)).To(BeFalse(), "tokens from before the revocation stay inactive")
	}).Should(Succeed())
}

func TestDeletedOrEditedWorkloadSecretIsRepairedWithANewSecret(t *testing.T) {
	h := newHarness(t)
	cc := h.readyCredential("svc", iamv1.ClientSecretType, nil)
	g := h.g
	first := string(h.workloadSecret(cc).Data[keyClientSecret])

	g.Expect(k8s.Delete(h.ctx, h.workloadSecret(cc))).To(Succeed())
	var second string
	g.Eventually(func(g Gomega) {
		ws := &corev1.Secret{}
		g.Expect(k8s.Get(h.ctx, h.key("svc"), ws)).To(Succeed())
		second = string(ws.Data[keyClientSecret])
		g.Expect(second).NotTo(BeEmpty())
		g.Expect(second).NotTo(Equal(first))
		rec := h.record(g, cc)
		g.Expect(h.accepts(rec, second)).To(BeTrue())
		g.Expect(h.accepts(rec, first)).To(BeFalse(), "the lost secret's hash must be dropped")
		g.Expect(rec.IssuedBeforeEpoch(parseIssuance(ws.Annotations).issuedAt.Add(-time.Nanosecond))).To(BeTrue())
	}).Should(Succeed())

	// An edited value is not trusted: Signet cannot vouch for it.
	edited, _ := credential.GenerateSecret(credential.ClientSecretKind)
	update(h, h.workloadSecret(cc), func(s *corev1.Secret) { s.Data[keyClientSecret] = []byte(edited) })
	g.Eventually(func(g Gomega) {
		third := string(h.workloadSecret(cc).Data[keyClientSecret])
		g.Expect(third).NotTo(Equal(edited))
		g.Expect(third).NotTo(Equal(second))
		rec := h.record(g, cc)
		g.Expect(h.accepts(rec, edited)).To(BeFalse())
		g.Expect(h.accepts(rec, third)).To(BeTrue())
	}).Should(Succeed())
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.RepairedReason)))

	// Metadata edits are repaired without a new secret.
	third := string(h.workloadSecret(cc).Data[keyClientSecret])
	update(h, h.workloadSecret(cc), func(s *corev1.Secret) { s.Data[keyTokenURL] = []byte("https://evil.example") })
	g.Eventually(func(g Gomega) {
		ws := h.workloadSecret(cc)
		g.Expect(string(ws.Data[keyTokenURL])).To(Equal(testIssuer + "/oauth2/token"))
		g.Expect(string(ws.Data[keyClientSecret])).To(Equal(third))
	}).Should(Succeed())
}

// TestDeletedRecordIsRebuilt: a lost record is rebuilt fail-closed. The
// secret it accepted is refused and replaced, tokens from before are
// inactive, and a Warning says so.
func TestDeletedRecordIsRebuilt(t *testing.T) {
	h := newHarness(t)
	cc := h.readyCredential("svc", iamv1.ClientSecretType, nil)
	g := h.g
	secret := string(h.workloadSecret(cc).Data[keyClientSecret])
	rec := &corev1.Secret{}
	rec.Namespace, rec.Name = h.signetNS, record.SecretName(cc.Status.ClientID)
	deleted := time.Now()
	g.Expect(k8s.Delete(h.ctx, rec)).To(Succeed())
	g.Eventually(func(g Gomega) {
		rebuilt := h.record(g, cc)
		fresh := string(h.workloadSecret(cc).Data[keyClientSecret])
		g.Expect(fresh).NotTo(Equal(secret))
		g.Expect(h.accepts(rebuilt, fresh)).To(BeTrue())
		g.Expect(h.accepts(rebuilt, secret)).To(BeFalse(), "the secret from before the loss must be refused")
		g.Expect(rebuilt.IssuedBeforeEpoch(deleted)).To(BeTrue(), "tokens from before the loss must be inactive")
	}).Should(Succeed())
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.RecordRebuiltReason)))
}

func TestRotationRestartsTheTargets(t *testing.T) {
	h := newHarness(t)
	h.create(account("svc"))
	dep := deployment()
	h.create(dep)
	cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
	cc.Spec.RolloutRestartTargets = []iamv1.RolloutRestartTarget{{Kind: "Deployment", Name: "api"}, {Kind: "StatefulSet", Name: "missing"}}
	h.create(cc)
	h.waitReady(cc)
	g := h.g
	g.Expect(k8s.Get(h.ctx, h.key("api"), dep)).To(Succeed())
	g.Expect(dep.Spec.Template.Annotations).NotTo(HaveKey(annRestartedAt), "the first issue must not restart anything")

	update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "now" })
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(h.ctx, h.key("api"), dep)).To(Succeed())
		issued := parseIssuance(h.workloadSecret(cc).Annotations).issuedAt
		g.Expect(dep.Spec.Template.Annotations).To(HaveKeyWithValue(annRestartedAt, issued.UTC().Format(time.RFC3339Nano)))
	}).Should(Succeed())
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix("RestartTargetNotFound")))
	h.waitReady(cc)
}

func TestTwoCredentialsClaimingOneSecretName(t *testing.T) {
	h := newHarness(t)
	h.create(account("svc"))
	first := clientCredential("first", "svc", iamv1.ClientSecretType)
	first.Spec.SecretName = "shared"
	h.create(first)
	h.waitReady(first)
	second := clientCredential("second", "svc", iamv1.ClientSecretType)
	second.Spec.SecretName = "shared"
	h.create(second)
	h.waitFor(second, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.StalledCondition, metav1.ConditionTrue, iamv1.SecretNameConflictReason)
		g.Expect(condOf(cc.Status.Conditions, iamv1.StalledCondition).Message).To(ContainSubstring("first"))
	})
	g := h.g
	ws := h.workloadSecret(first)
	version := ws.ResourceVersion
	h.poke(second)
	h.poke(second)
	g.Consistently(func(g Gomega) {
		got := h.workloadSecret(first)
		g.Expect(got.ResourceVersion).To(Equal(version), "the loser must not write the Secret")
		g.Expect(metav1.GetControllerOf(got).UID).To(Equal(first.UID))
	}).WithTimeout(2 * time.Second).Should(Succeed())

	// When the first lets go, the second takes the name.
	g.Expect(k8s.Delete(h.ctx, first)).To(Succeed())
	h.waitReady(second)
	g.Expect(metav1.GetControllerOf(h.workloadSecret(second)).UID).To(Equal(second.UID))
	g.Expect(condOf(second.Status.Conditions, iamv1.StalledCondition)).To(BeNil())
}

func TestAForeignSecretIsNeverOverwritten(t *testing.T) {
	h := newHarness(t)
	h.create(account("svc"))
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "svc"}, StringData: map[string]string{"password": "hunter2"}}
	h.create(foreign)
	cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
	h.create(cc)
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.StalledCondition, metav1.ConditionTrue, iamv1.SecretNotOwnedReason)
	})
	got := &corev1.Secret{}
	h.g.Expect(k8s.Get(h.ctx, h.key("svc"), got)).To(Succeed())
	h.g.Expect(got.Data).To(Equal(map[string][]byte{"password": []byte("hunter2")}))
}

func TestDeletionPolicy(t *testing.T) {
	for _, policy := range []iamv1.DeletionPolicy{iamv1.DeletePolicy, iamv1.OrphanPolicy} {
		t.Run(string(policy), func(t *testing.T) {
			h := newHarness(t)
			h.create(account("svc"))
			cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
			cc.Spec.DeletionPolicy = policy
			h.create(cc)
			h.waitReady(cc)
			g := h.g
			recName := record.SecretName(cc.Status.ClientID)
			g.Expect(k8s.Delete(h.ctx, cc)).To(Succeed())
			g.Eventually(func() bool {
				return apierrors.IsNotFound(k8s.Get(h.ctx, h.key("svc"), &iamv1.ClientCredential{}))
			}).Should(BeTrue(), "the finalizer must be removed")
			g.Expect(apierrors.IsNotFound(k8s.Get(h.ctx, client.ObjectKey{Namespace: h.signetNS, Name: recName}, &corev1.Secret{}))).
				To(BeTrue(), "the record must be deleted whatever the policy")
			ws := &corev1.Secret{}
			err := k8s.Get(h.ctx, h.key("svc"), ws)
			if policy == iamv1.DeletePolicy {
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(ws.OwnerReferences).To(BeEmpty(), "an orphaned Secret must not be garbage collected")
		})
	}
}

func TestNothingIsRecreatedDuringDeletion(t *testing.T) {
	h := newHarness(t)
	h.create(account("svc"))
	cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
	cc.Finalizers = []string{"example.com/hold"} // keeps the object in deletion
	h.create(cc)
	h.waitReady(cc)
	g := h.g
	g.Expect(k8s.Delete(h.ctx, cc)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(h.ctx, h.key("svc"), &corev1.Secret{}))).To(BeTrue())
	}).Should(Succeed())
	g.Consistently(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(h.ctx, h.key("svc"), &corev1.Secret{}))).To(BeTrue(), "the workload Secret came back during deletion")
	}).WithTimeout(2 * time.Second).Should(Succeed())
	update(h, cc, func(c *iamv1.ClientCredential) { c.Finalizers = nil })
}

func TestExpiryAndExpiringSoon(t *testing.T) {
	h := newHarness(t)
	h.create(account("svc"))
	cc := clientCredential("svc", "svc", iamv1.APIKeyType)
	cc.Spec.ValidFor = duration(3 * time.Hour)
	h.create(cc)
	h.waitReady(cc)
	g := h.g
	g.Expect(condOf(cc.Status.Conditions, iamv1.ExpiringSoonCondition)).To(BeNil(), "ExpiringSoon is shown only when true")
	g.Expect(cc.Status.ExpiresAt.Sub(cc.Status.LastRotationTime.Time)).To(Equal(3 * time.Hour))
	g.Expect(testutil.ToFloat64(credentialExpiry.WithLabelValues(h.ns, "svc", "APIKey"))).
		To(BeEquivalentTo(cc.Status.ExpiresAt.Unix()), "signet_credential_expiration_timestamp_seconds")

	h.clock.advance(2*time.Hour + time.Minute)
	h.poke(cc)
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.ExpiringSoonCondition, metav1.ConditionTrue, iamv1.ExpiringSoonReason)
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionTrue, "")
	})

	h.clock.advance(time.Hour)
	h.poke(cc)
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.ExpiredReason)
	})
	rec := h.record(g, cc)
	ok, reason := rec.Usable(h.clock.Now())
	g.Expect(ok).To(BeFalse())
	g.Expect(reason).To(Equal("expired"))
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.ExpiredReason)))
}

func TestKeysAreBootstrapped(t *testing.T) {
	h := newHarness(t)
	h.hasher() // waits for the hash key
	g := h.g
	keys := &corev1.Secret{}
	g.Eventually(func() error {
		return k8s.Get(h.ctx, client.ObjectKey{Namespace: h.signetNS, Name: record.SigningKeysSecretName}, keys)
	}).Should(Succeed())
	g.Expect(keys.Labels).To(HaveKeyWithValue(record.LabelComponent, record.ComponentSigningKeys))
	g.Expect(strings.Contains(string(keys.Data[record.KeysKey]), `"alg":"ES256"`)).To(BeTrue())

	// Deleted signing keys are re-created at once.
	g.Expect(k8s.Delete(h.ctx, keys)).To(Succeed())
	g.Eventually(func(g Gomega) {
		again := &corev1.Secret{}
		g.Expect(k8s.Get(h.ctx, client.ObjectKey{Namespace: h.signetNS, Name: record.SigningKeysSecretName}, again)).To(Succeed())
		g.Expect(again.UID).NotTo(Equal(keys.UID))
	}).Should(Succeed())
}
