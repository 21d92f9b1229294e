package v1alpha1_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/testutil"
)

// TestFederationSubjectOfAnotherNamespaceIsRefused installs the federation
// namespace guard (config/policy) and applies Federated credentials that
// trust this cluster's ServiceAccount tokens: one naming a ServiceAccount
// of another namespace is refused when applied, with a message that says
// what to write instead; one naming its own namespace is accepted, and so
// is any subject of another issuer, which namespaces do not describe.
func TestFederationSubjectOfAnotherNamespaceIsRefused(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(30 * time.Second)
	ctx := context.Background()
	for _, obj := range testutil.ReadObjects(t, filepath.Join(env.Root, "config", "policy", "clientcredential_federation.yaml")) {
		testutil.Install(t, k8s, obj)
	}
	ns := newNamespace(t)
	federated := func(name, issuer, subject string) *iamv1.ClientCredential {
		return &iamv1.ClientCredential{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: iamv1.ClientCredentialSpec{
				ServiceAccountName: "builder",
				Type:               iamv1.FederatedType,
				Federation:         &iamv1.Federation{Issuer: issuer, Subject: subject},
			},
		}
	}

	foreign := federated("foreign", "", "system:serviceaccount:team-b:builder")
	// The API server loads policies asynchronously: wait until it refuses.
	g.Eventually(func() error { return k8s.Create(ctx, foreign.DeepCopy(), client.DryRunAll) }).Should(MatchError(And(
		ContainSubstring("spec.federation.subject must name a ServiceAccount of this namespace, system:serviceaccount:"+ns+":<name>"),
		ContainSubstring("only the ServiceAccounts of its own namespace"),
	)))

	own := federated("own", "", "system:serviceaccount:"+ns+":builder")
	g.Expect(k8s.Create(ctx, own)).To(Succeed())
	// An update cannot move it to another namespace's account either.
	own.Spec.Federation.Subject = "system:serviceaccount:team-b:builder"
	g.Expect(k8s.Update(ctx, own)).To(MatchError(ContainSubstring("only the ServiceAccounts of its own namespace")))

	other := federated("github", "https://token.actions.githubusercontent.com", "repo:acme/api:ref:refs/heads/main")
	g.Expect(k8s.Create(ctx, other)).To(Succeed())
}
