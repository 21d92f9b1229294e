package controllers

import (
	"errors"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
)

// Continuity on the real API server: a ClientCredential deleted and
// re-created, both times with the continuity annotation, keeps its
// client_id and secret; in between, and without the annotation on both,
// nothing of it works.

// continuing is the ClientCredential svc of account svc, asking for
// continuity, with deletionPolicy Orphan.
func continuing() *iamv1.ClientCredential {
	cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
	cc.Annotations = map[string]string{annotContinuity: "true"}
	cc.Spec.DeletionPolicy = iamv1.OrphanPolicy
	return cc
}

// deleteAndWait deletes cc and waits until its finalizer has run.
func (h *harness) deleteAndWait(cc *iamv1.ClientCredential) {
	h.t.Helper()
	h.g.Expect(k8s.Delete(h.ctx, cc)).To(Succeed())
	h.g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(h.ctx, client.ObjectKeyFromObject(cc), &iamv1.ClientCredential{}))
	}).Should(BeTrue())
}

// storedRecordOf reads the record Secret of clientID; nil when absent.
func (h *harness) storedRecordOf(g Gomega, clientID string) (*corev1.Secret, *record.Record) {
	s := &corev1.Secret{}
	err := k8s.Get(h.ctx, types.NamespacedName{Namespace: h.signetNS, Name: record.SecretName(clientID)}, s)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	g.Expect(err).NotTo(HaveOccurred())
	rec, err := record.Parse(s.Data[record.RecordKey])
	g.Expect(err).NotTo(HaveOccurred())
	return s, rec
}

// readyContinuing creates the ServiceAccount svc and a ClientCredential svc
// asking for continuity, with deletionPolicy Orphan, waits until it is
// Ready, and returns it with its client_id and secret.
func (h *harness) readyContinuing() (cc *iamv1.ClientCredential, clientID, secret string) {
	h.t.Helper()
	h.create(account("svc"))
	cc = continuing()
	h.create(cc)
	h.waitReady(cc)
	return cc, cc.Status.ClientID, string(h.workloadSecret(cc).Data[keyClientSecret])
}

func TestContinuityCarriesTheSecretAcrossReCreation(t *testing.T) {
	h := newHarness(t)
	g := h.g
	cc, id, secret := h.readyContinuing()
	oldUID := cc.UID
	tokenIssued := h.clock.Now()

	h.deleteAndWait(cc)
	// Handed over: kept, but refused, secret and tokens alike.
	sec, rec := h.storedRecordOf(g, id)
	g.Expect(rec).NotTo(BeNil(), "the record was deleted, not handed over")
	g.Expect(rec.HandoverUntil).NotTo(BeNil())
	g.Expect(rec.HandoverUntil.Sub(h.clock.Now())).To(BeNumerically("~", DefaultContinuityWindow, time.Minute))
	g.Expect(sec.Labels).To(HaveKeyWithValue(record.LabelHandover, "true"))
	g.Expect(h.serverAccepts(rec, secret)).To(BeFalse(), "a deleted credential's secret works during the handover")
	g.Expect(h.tokenActive(rec, tokenIssued)).To(BeFalse())
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.HandedOverReason)))

	again := continuing()
	h.create(again)
	h.waitReady(again)
	g.Expect(again.UID).NotTo(Equal(oldUID))
	g.Expect(again.Status.ClientID).To(Equal(id), "the re-created credential did not continue the client_id")
	g.Expect(string(h.workloadSecret(again).Data[keyClientSecret])).To(Equal(secret), "the secret was replaced")
	g.Eventually(func(g Gomega) {
		sec, rec := h.storedRecordOf(g, id)
		g.Expect(rec.HandoverUntil).To(BeNil())
		g.Expect(rec.CredentialUID).To(Equal(string(again.UID)))
		g.Expect(sec.Labels).NotTo(HaveKey(record.LabelHandover))
		g.Expect(h.serverAccepts(rec, secret)).To(BeTrue(), "the continued secret is refused")
		g.Expect(h.tokenActive(rec, tokenIssued)).To(BeFalse(), "a token from before the deletion is active again")
	}).Should(Succeed())
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.ContinuedReason)))

	// The adopted identity is the credential's own from now on: deleting
	// it without continuity deletes the continued record.
	update(h, again, func(c *iamv1.ClientCredential) { delete(c.Annotations, annotContinuity) })
	h.deleteAndWait(again)
	g.Eventually(func(g Gomega) {
		_, rec := h.storedRecordOf(g, id)
		g.Expect(rec).To(BeNil(), "the continued record outlived its credential")
	}).Should(Succeed())
}

func TestContinuityIsRefusedWithoutBothAnnotationsOrAfterTheWindow(t *testing.T) {
	h := newHarness(t)
	g := h.g
	cc, id, secret := h.readyContinuing()
	h.deleteAndWait(cc)

	// Re-created without the annotation: a new identity; the handover
	// stays refused.
	plain := clientCredential("svc", "svc", iamv1.ClientSecretType)
	plain.Spec.DeletionPolicy = iamv1.OrphanPolicy
	h.create(plain)
	h.waitReady(plain)
	g.Expect(plain.Status.ClientID).NotTo(Equal(id))
	g.Expect(string(h.workloadSecret(plain).Data[keyClientSecret])).NotTo(Equal(secret))
	_, rec := h.storedRecordOf(g, id)
	g.Expect(rec.HandoverUntil).NotTo(BeNil())
	g.Expect(h.serverAccepts(rec, secret)).To(BeFalse())
	h.deleteAndWait(plain)

	// After the window: refused, with a Warning that says why, and the
	// sweeper deletes the expired handover.
	h.clock.advance(DefaultContinuityWindow + time.Minute)
	late := continuing()
	h.create(late)
	h.waitReady(late)
	g.Expect(late.Status.ClientID).NotTo(Equal(id))
	g.Eventually(h.eventReasons).Should(ContainElement(And(HavePrefix(iamv1.ContinuityRefusedReason), ContainSubstring("handover ended"))))
	sweeper := &recordSweeper{client: k8s, reader: k8s, clock: h.clock, ns: h.signetNS}
	g.Expect(sweeper.sweep(h.ctx)).To(Succeed())
	sec, _ := h.storedRecordOf(g, id)
	g.Expect(sec).To(BeNil(), "the expired handover was not swept")
}

func TestContinuityRefusesAnotherAccount(t *testing.T) {
	h := newHarness(t)
	g := h.g
	cc, id, _ := h.readyContinuing()
	h.create(account("other"))
	h.deleteAndWait(cc)

	moved := continuing()
	moved.Spec.ServiceAccountName = "other"
	h.create(moved)
	h.waitReady(moved)
	g.Expect(moved.Status.ClientID).NotTo(Equal(id), "a credential continued another account's identity")
	g.Eventually(h.eventReasons).Should(ContainElement(And(HavePrefix(iamv1.ContinuityRefusedReason), ContainSubstring(`belonged to ServiceAccount "svc"`))))
}

func TestAdoptionRules(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	obj := continuing()
	obj.Namespace = "team-a"
	handedOver := func(mutate func(*record.Record)) *record.Record {
		until := now.Add(time.Minute)
		r := &record.Record{Namespace: "team-a", Credential: "svc", ServiceAccount: "svc", Type: record.TypeClientSecret, HandoverUntil: &until}
		if mutate != nil {
			mutate(r)
		}
		return r
	}
	tests := map[string]struct {
		rec  *record.Record
		err  error
		want string
	}{
		"same namespace, name, account and type, in time": {rec: handedOver(nil)},
		"unreadable":        {err: errors.New("bad"), want: "unreadable"},
		"not handed over":   {rec: handedOver(func(r *record.Record) { r.HandoverUntil = nil }), want: "not handed over"},
		"handover ended":    {rec: handedOver(func(r *record.Record) { r.HandoverUntil = &now }), want: "handover ended"},
		"another namespace": {rec: handedOver(func(r *record.Record) { r.Namespace = "team-b" }), want: "another ClientCredential"},
		"another name":      {rec: handedOver(func(r *record.Record) { r.Credential = "other" }), want: "another ClientCredential"},
		"another account":   {rec: handedOver(func(r *record.Record) { r.ServiceAccount = "other" }), want: `ServiceAccount "other"`},
		"another type":      {rec: handedOver(func(r *record.Record) { r.Type = record.TypeAPIKey }), want: "type APIKey"},
	}
	for name, tc := range tests {
		got := adoptionRefused(obj, tc.rec, tc.err, now)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: refused %q, want %q", name, got, tc.want)
		}
	}
}
