package controllers

import (
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// These tests pin what a person reads: conditions, Events and printer
// columns. Each one fails if a message misleads again.

// restarted is the Event message of a rollout restart of the Deployment api.
const restarted = "Restarted Deployment api"

// countRestarted counts the "Restarted" Events the notifier emitted, from the manager's log (the notifier logs each Event it records, with
// its eventType). Counting there does not depend on the Event API folding
// repeats into a series.
func (h *harness) countRestarted() int {
	n := 0
	for _, line := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(line, restarted) && strings.Contains(line, `"eventType"`) {
			n++
		}
	}
	return n
}

func TestRestartEventsAreEmittedOncePerRotation(t *testing.T) {
	h := newHarness(t)
	h.create(account("svc"))
	h.create(deployment())
	cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
	cc.Spec.RolloutRestartTargets = []iamv1.RolloutRestartTarget{{Kind: "Deployment", Name: "api"}}
	h.create(cc)
	h.waitReady(cc)
	g := h.g

	update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "one" })
	g.Eventually(func() int { return h.countRestarted() }).WithTimeout(20 * time.Second).Should(Equal(1))
	// Later passes (the pokes, the watch events of the rotation's own
	// writes) find the restart done and stay silent.
	h.poke(cc)
	h.poke(cc)
	g.Consistently(func() int { return h.countRestarted() }).WithTimeout(2 * time.Second).Should(Equal(1))

	update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "two" })
	g.Eventually(func() int { return h.countRestarted() }).WithTimeout(20 * time.Second).Should(Equal(2))
	g.Consistently(func() int { return h.countRestarted() }).WithTimeout(time.Second).Should(Equal(2))
}

// neverAdvisesSettingSecretName checks the advice given for a taken name:
// spec.secretName is immutable, so "set spec.secretName" would be refused.
func neverAdvisesSettingSecretName(g Gomega, c *metav1.Condition) {
	g.Expect(c.Message).NotTo(MatchRegexp(`(?i)set spec\.secretName`))
	g.Expect(c.Message).To(ContainSubstring("spec.secretName cannot be changed"))
}

func TestSecretNameConflictAdviceIsPossible(t *testing.T) {
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
		c := condOf(cc.Status.Conditions, iamv1.StalledCondition)
		neverAdvisesSettingSecretName(g, c)
		g.Expect(c.Message).To(ContainSubstring("delete ClientCredential first"))
	})
}

func TestForeignSecretStallClearsOnceTheSecretIsGone(t *testing.T) {
	h := newHarness(t)
	h.create(account("svc"))
	foreign := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "svc"}, StringData: map[string]string{"password": "hunter2"}}
	h.create(foreign)
	cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
	h.create(cc)
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.StalledCondition, metav1.ConditionTrue, iamv1.SecretNotOwnedReason)
		neverAdvisesSettingSecretName(g, condOf(cc.Status.Conditions, iamv1.StalledCondition))
	})
	// Nothing Signet watches changes when the foreign Secret goes: the
	// credential must notice by itself.
	h.g.Expect(k8s.Delete(h.ctx, foreign)).To(Succeed())
	h.waitReady(cc)
	h.g.Expect(condOf(cc.Status.Conditions, iamv1.StalledCondition)).To(BeNil())
	h.g.Expect(metav1.GetControllerOf(h.workloadSecret(cc)).UID).To(Equal(cc.UID))
}

func TestMissingAccountNamesTheKindAndACoreAccountOfThatName(t *testing.T) {
	h := newHarness(t)
	// The easy mistake: "kubectl create serviceaccount ci" makes the core kind.
	h.create(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "ci"}})
	cc := clientCredential("ci", "ci", iamv1.ClientSecretType)
	h.create(cc)
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.ServiceAccountNotFoundReason)
		msg := condOf(cc.Status.Conditions, iamv1.ReadyCondition).Message
		g.Expect(msg).To(ContainSubstring("serviceaccounts.iam.signet.dev"))
		g.Expect(msg).To(ContainSubstring("a core ServiceAccount (v1) of that name exists"))
		g.Expect(msg).To(ContainSubstring("spec.serviceAccountName cannot be changed"))
	})
	// Without a core namesake there is no hint.
	other := clientCredential("nobody", "nobody", iamv1.ClientSecretType)
	h.create(other)
	h.waitFor(other, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.ServiceAccountNotFoundReason)
		g.Expect(condOf(cc.Status.Conditions, iamv1.ReadyCondition).Message).NotTo(ContainSubstring("core ServiceAccount"))
	})
}

func TestFirstInvalidKeyDoesNotClaimKeysStayInForce(t *testing.T) {
	h := newHarness(t)
	h.create(account("signer"))
	const keyMaterial = "c2VjcmV0c2VjcmV0c2VjcmV0"
	cc := clientCredential("signer", "signer", iamv1.PrivateKeyJWTType)
	// The API server refuses private JWK members, so the controller sees a
	// public key it cannot use: an EC point that is not on its curve.
	cc.Spec.PublicKeys = &iamv1.PublicKeys{JWKS: `{"keys":[{"kty":"EC","crv":"P-256","x":"` + keyMaterial + `","y":"` + keyMaterial + `"}]}`}
	h.create(cc)
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.StalledCondition, metav1.ConditionTrue, iamv1.InvalidPublicKeysReason)
		msg := condOf(cc.Status.Conditions, iamv1.StalledCondition).Message
		g.Expect(msg).To(ContainSubstring("spec.publicKeys.jwks key 1"))
		g.Expect(msg).To(ContainSubstring("no key is in force yet"))
		g.Expect(msg).NotTo(ContainSubstring("stay in force"))
		g.Expect(msg).NotTo(ContainSubstring(keyMaterial))
	})
	g := h.g
	g.Expect(h.logs.String()).NotTo(ContainSubstring(keyMaterial))
	g.Expect(strings.Join(h.eventReasons(), "\n")).NotTo(ContainSubstring(keyMaterial))
}

func TestPrinterColumnsAndCountsReadRight(t *testing.T) {
	h := newHarness(t)
	h.create(account("idle"))
	h.create(rule("one", []string{"idle"}, "a:read"))
	g := h.g

	// CREDENTIALS shows 0, not blank: the field is present in the stored object.
	g.Eventually(func(g Gomega) {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(iamv1.GroupVersion.String())
		u.SetKind("ServiceAccount")
		g.Expect(k8s.Get(h.ctx, h.key("idle"), u)).To(Succeed())
		count, found, err := unstructured.NestedInt64(u.Object, "status", "credentialCount")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(found).To(BeTrue(), "status.credentialCount is absent, so the CREDENTIALS column is blank")
		g.Expect(count).To(BeZero())
		ready := condOf(statusConditions(u), iamv1.ReadyCondition)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Message).To(Equal("1 scope granted through AccessRules"))
	}).Should(Succeed())

	// "granted to 1 ServiceAccount", not "1 ServiceAccounts".
	g.Eventually(func(g Gomega) {
		r := &iamv1.AccessRule{}
		g.Expect(k8s.Get(h.ctx, h.key("one"), r)).To(Succeed())
		ready := condOf(r.Status.Conditions, iamv1.ReadyCondition)
		g.Expect(ready).NotTo(BeNil())
		g.Expect(ready.Message).To(Equal("granted to 1 ServiceAccount"))
	}).Should(Succeed())

	// EXPIRES is empty while the credential is revoked.
	cc := h.readyCredential("expiring", iamv1.ClientSecretType, func(c *iamv1.ClientCredential) { c.Spec.ValidFor = duration(48 * time.Hour) })
	g.Expect(cc.Status.ExpiresAt).NotTo(BeNil())
	update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Revoked = true })
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.RevokedReason)
		g.Expect(cc.Status.ExpiresAt).To(BeNil())
	})
}

func statusConditions(u *unstructured.Unstructured) []metav1.Condition {
	raw, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	var out []metav1.Condition
	for _, item := range raw {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		c := metav1.Condition{}
		c.Type, _ = m["type"].(string)
		c.Message, _ = m["message"].(string)
		out = append(out, c)
	}
	return out
}
