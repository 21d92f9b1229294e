package controllers

import (
	"maps"
	"slices"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
)

// TestFederatedCredentialOnTheAPIServer: a Federated credential becomes
// Ready with a workload Secret holding client_id, token_url and issuer
// only, and a record carrying its trust; a claim rule that does not
// compile is reported on the resource at once, with what to fix.
func TestFederatedCredentialOnTheAPIServer(t *testing.T) {
	h := newHarness(t)
	h.create(account("builder"))
	cc := clientCredential("builder", "builder", iamv1.FederatedType)
	cc.Spec.Federation = &iamv1.Federation{
		Issuer:  "https://token.actions.githubusercontent.com",
		Subject: "repo:acme/api:ref:refs/heads/main",
		Claims:  `claims.repository_owner == "acme"`,
	}
	h.create(cc)
	h.waitReady(cc)

	g := h.g
	ws := h.workloadSecret(cc)
	g.Expect(slices.Sorted(maps.Keys(ws.Data))).To(Equal([]string{keyClientID, keyIssuer, keyTokenURL}))
	rec := h.record(g, cc)
	g.Expect(rec.Type).To(Equal(record.TypeFederated))
	g.Expect(rec.Federation).To(Equal(&record.Federation{
		Issuer: cc.Spec.Federation.Issuer, Subject: cc.Spec.Federation.Subject,
		Audience: h.options().Issuer, Claims: cc.Spec.Federation.Claims,
	}))

	update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Federation.Claims = `claims.repository_owner ==` })
	h.waitFor(cc, func(g Gomega, cc *iamv1.ClientCredential) {
		expectCondition(g, cc.Status.Conditions, iamv1.StalledCondition, metav1.ConditionTrue, iamv1.InvalidClaimsReason)
		msg := condOf(cc.Status.Conditions, iamv1.StalledCondition).Message
		g.Expect(strings.Contains(msg, "not a valid CEL expression") && strings.Contains(msg, "Fix spec.federation.claims")).To(BeTrue(), msg)
		expectCondition(g, cc.Status.Conditions, iamv1.ReadyCondition, metav1.ConditionFalse, iamv1.InvalidClaimsReason)
	})
	g.Expect(h.record(g, cc).Federation.Claims).To(Equal(`claims.repository_owner == "acme"`), "the last valid rule stays in force")
}
