package controllers

import (
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
)

// The two ways a dead secret used to come back to life, on the real API
// server. Each ends with the old secret refused and a token issued before
// the deletion inactive, by the token server's own rules (record.MatchSecret
// and record.Backs) applied to the record as stored, and still so a minute
// later.

// TestReappliedServiceAccountIsANewIdentity: a ServiceAccount deleted and
// re-applied with the same name, as a GitOps re-sync does, does not revive
// its credentials' API keys or tokens: the credential gets a new key.
func TestReappliedServiceAccountIsANewIdentity(t *testing.T) {
	h := newHarness(t)
	cc := h.readyCredential("svc", iamv1.APIKeyType, nil)
	g := h.g
	old := string(h.workloadSecret(cc).Data[keyAPIKey])
	tokenIssued := h.clock.Now()
	g.Expect(h.tokenActive(h.record(g, cc), tokenIssued)).To(BeTrue())

	sa := &iamv1.ServiceAccount{}
	g.Expect(k8s.Get(h.ctx, h.key("svc"), sa)).To(Succeed())
	oldUID := sa.UID
	g.Expect(k8s.Delete(h.ctx, sa)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(h.ctx, h.key("svc"), &iamv1.ServiceAccount{})) }).Should(BeTrue())
	h.create(account("svc"))
	start := time.Now()

	refused := func(g Gomega) {
		rec := h.record(g, cc)
		g.Expect(rec.AccountUID).NotTo(Equal(string(oldUID)))
		g.Expect(h.serverAccepts(rec, old)).To(BeFalse(), "the secret of the deleted account works again")
		g.Expect(h.tokenActive(rec, tokenIssued)).To(BeFalse(), "a token of the deleted account is active again")
		fresh := string(h.workloadSecret(cc).Data[keyAPIKey])
		g.Expect(fresh).NotTo(Equal(old))
		g.Expect(h.serverAccepts(rec, fresh)).To(BeTrue(), "the re-created account's credential has no working secret")
	}
	g.Eventually(refused).WithTimeout(10 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
	t.Logf("the old secret was refused %v after the account was re-applied", time.Since(start))
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.ReissuedReason)))

	h.clock.advance(time.Minute)
	h.poke(cc)
	g.Consistently(refused).WithTimeout(time.Second).Should(Succeed())
}

// TestRecreatedCredentialDoesNotAdoptTheOrphanedSecret: a ClientCredential
// deleted with deletionPolicy Orphan and re-created with the same name is a
// new client: the orphaned Secret's value is replaced, not adopted, and the
// old client_id is gone.
func TestRecreatedCredentialDoesNotAdoptTheOrphanedSecret(t *testing.T) {
	h := newHarness(t)
	h.create(account("svc"))
	cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
	cc.Spec.DeletionPolicy = iamv1.OrphanPolicy
	h.create(cc)
	h.waitReady(cc)
	g := h.g
	old := string(h.workloadSecret(cc).Data[keyClientSecret])
	oldID := cc.Status.ClientID
	oldRecord := types.NamespacedName{Namespace: h.signetNS, Name: record.SecretName(oldID)}

	g.Expect(k8s.Delete(h.ctx, cc)).To(Succeed())
	g.Eventually(func() bool { return apierrors.IsNotFound(k8s.Get(h.ctx, h.key("svc"), &iamv1.ClientCredential{})) }).Should(BeTrue())
	g.Expect(string(h.workloadSecret(cc).Data[keyClientSecret])).To(Equal(old), "the orphaned Secret must stay")

	again := clientCredential("svc", "svc", iamv1.ClientSecretType)
	h.create(again)
	h.waitReady(again)
	g.Expect(again.Status.ClientID).NotTo(Equal(oldID))
	refused := func(g Gomega) {
		g.Expect(apierrors.IsNotFound(k8s.Get(h.ctx, oldRecord, &corev1.Secret{}))).To(BeTrue(), "the old client_id's record is back")
		ws := h.workloadSecret(again)
		g.Expect(string(ws.Data[keyClientID])).To(Equal(again.Status.ClientID))
		fresh := string(ws.Data[keyClientSecret])
		g.Expect(fresh).NotTo(Equal(old), "the orphaned secret was adopted")
		rec := h.record(g, again)
		g.Expect(h.serverAccepts(rec, old)).To(BeFalse(), "the orphaned secret works under the new client_id")
		g.Expect(h.serverAccepts(rec, fresh)).To(BeTrue())
	}
	g.Eventually(refused).Should(Succeed())
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.ReissuedReason)))

	h.clock.advance(time.Minute)
	h.poke(again)
	g.Consistently(refused).WithTimeout(time.Second).Should(Succeed())
}

// serverAccepts is the token server's verdict on secret with rec: usable,
// and one of its accepted hashes matches.
func (h *harness) serverAccepts(rec *record.Record, secret string) bool {
	ok, _ := rec.Usable(h.clock.Now())
	return ok && h.accepts(rec, secret)
}

// tokenActive is introspection's verdict, by the record, on a token without
// scope issued at issued.
func (h *harness) tokenActive(rec *record.Record, issued time.Time) bool {
	return rec.Backs(issued, h.clock.Now(), nil, nil, "")
}
