package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
)

// TestSweeperDeletesRecordsNoCredentialOwns: a record written after its
// credential's finalizer ran (a write a killed leader had in flight) is a
// live client of a deleted credential. The sweeper deletes it, and keeps
// the record of the credential re-created under the same name, a record
// whose credential a lagging cache does not show yet, and a Secret it
// cannot attribute.
func TestSweeperDeletesRecordsNoCredentialOwns(t *testing.T) {
	h := newHarness(t)
	g := h.g
	old := h.readyCredential("svc", iamv1.ClientSecretType, nil)
	stale, _ := h.storedRecordOf(g, old.Status.ClientID)
	g.Expect(stale).NotTo(BeNil())
	h.deleteAndWait(old)
	g.Eventually(func() *corev1.Secret { s, _ := h.storedRecordOf(g, old.Status.ClientID); return s }).Should(BeNil())

	// The late write lands, and the name is re-created as a new identity.
	late := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: stale.Namespace, Name: stale.Name, Labels: stale.Labels},
		Type:       stale.Type, Data: stale.Data,
	}
	g.Expect(k8s.Create(h.ctx, late)).To(Succeed())
	again := clientCredential("svc", "svc", iamv1.ClientSecretType)
	h.create(again)
	h.waitReady(again)
	g.Expect(again.Status.ClientID).NotTo(Equal(old.Status.ClientID))
	foreign := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.signetNS, Name: "hand-made",
			Labels: map[string]string{record.LabelComponent: record.ComponentCredentialRecord}},
	}
	g.Expect(k8s.Create(h.ctx, foreign)).To(Succeed())

	// A cache that does not show the re-created credential yet costs it
	// nothing: the sweeper confirms around the cache before deleting.
	lagging := &recordSweeper{client: credentialBlindClient{k8s}, reader: k8s, clock: h.clock, ns: h.signetNS}
	g.Expect(lagging.sweep(h.ctx)).To(Succeed())
	kept, _ := h.storedRecordOf(g, again.Status.ClientID)
	g.Expect(kept).NotTo(BeNil(), "a lagging cache cost a live credential its record")

	sweeper := &recordSweeper{client: k8s, reader: k8s, clock: h.clock, ns: h.signetNS}
	g.Expect(sweeper.sweep(h.ctx)).To(Succeed())
	orphan, _ := h.storedRecordOf(g, old.Status.ClientID)
	g.Expect(orphan).To(BeNil(), "the record of the deleted credential survived the sweep")
	kept, rec := h.storedRecordOf(g, again.Status.ClientID)
	g.Expect(kept).NotTo(BeNil())
	g.Expect(h.serverAccepts(rec, string(h.workloadSecret(again).Data[keyClientSecret]))).To(BeTrue())
	g.Expect(k8s.Get(h.ctx, client.ObjectKeyFromObject(foreign), &corev1.Secret{})).To(Succeed(), "a Secret the sweeper cannot attribute was deleted")
}

// credentialBlindClient reads as a cache that has not seen any
// ClientCredential yet.
type credentialBlindClient struct{ client.Client }

func (c credentialBlindClient) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if _, ok := obj.(*iamv1.ClientCredential); ok {
		return apierrors.NewNotFound(iamv1.GroupVersion.WithResource("clientcredentials").GroupResource(), key.Name)
	}
	return c.Client.Get(ctx, key, obj, opts...)
}
