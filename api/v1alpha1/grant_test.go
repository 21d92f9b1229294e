package v1alpha1_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/testenv"
	"github.com/signet-iam/signet/internal/testutil"
)

// TestGrantNeedsRBAC installs the escalation guard (config/policy), the
// tenant ClusterRoles (config/rbac/tenant_roles.yaml) and the example
// delegation role (config/rbac/examples), and walks a namespace admin
// through granting scopes and audiences on the real API server.
func TestGrantNeedsRBAC(t *testing.T) {
	g := NewWithT(t)
	g.SetDefaultEventuallyTimeout(30 * time.Second)
	ctx := context.Background()
	for _, obj := range testutil.ReadObjects(t, filepath.Join(env.Root, "config", "policy", "accessrule_grant.yaml")) {
		testutil.Install(t, k8s, obj)
	}
	for _, obj := range testutil.ReadObjects(t, filepath.Join(env.Root, "config", "rbac", "tenant_roles.yaml")) {
		obj.SetName("signet-" + obj.GetName()) // as kustomize's namePrefix and the chart name them
		testutil.Install(t, k8s, obj)
	}
	example := testutil.ReadObjects(t, filepath.Join(env.Root, "config", "rbac", "examples", "grant_scopes.yaml"))
	testutil.Install(t, k8s, example[0])

	ns := newNamespace(t)
	const alice = "alice"
	// Alice administers the namespace. The built-in admin role would carry
	// signet-admin through aggregation, which kube-controller-manager does;
	// this control plane runs none, so she is bound to both.
	for _, role := range []string{"admin", "signet-admin"} {
		testutil.Install(t, k8s, aliceBinding(ns, role, role))
	}
	asAlice := testutil.As(t, env.Config, testenv.Scheme(), alice)

	rule := &iamv1.AccessRule{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments"},
		Spec: iamv1.AccessRuleSpec{
			Subjects:    []iamv1.Subject{{Kind: "ServiceAccount", Name: "app"}},
			Scopes:      []string{"payments:write"},
			Description: "written by a platform admin",
		},
	}
	want := func(what, name string) string {
		return `you may not grant ` + what + ` "` + name + `": you need verb "grant" on ` + what + `s.iam.signet.dev/` + name + ` in namespace "` + ns + `"`
	}

	t.Cleanup(func() {
		if t.Failed() {
			vap := &admissionv1.ValidatingAdmissionPolicy{}
			_ = k8s.Get(ctx, client.ObjectKey{Name: "accessrule-grant"}, vap)
			t.Logf("policy status: %+v", vap.Status)
		}
	})
	// The API server loads policies asynchronously: wait until it refuses.
	g.Eventually(func() error {
		return asAlice.Create(ctx, rule.DeepCopy(), client.DryRunAll)
	}).Should(MatchError(ContainSubstring(want("scope", "payments:write"))),
		"a namespace admin without grant must not create a rule with a new scope")

	// A platform admin (cluster-admin: grant on every scope) writes the rule.
	g.Expect(k8s.Create(ctx, rule)).To(Succeed())

	update := func(c client.Client, edit func(*iamv1.AccessRule)) error {
		obj := &iamv1.AccessRule{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(rule), obj); err != nil {
			return err
		}
		edit(obj)
		return c.Update(ctx, obj)
	}
	addScope := func(s ...string) func(*iamv1.AccessRule) {
		return func(r *iamv1.AccessRule) { r.Spec.Scopes = append(r.Spec.Scopes, s...) }
	}
	addAudience := func(a string) func(*iamv1.AccessRule) {
		return func(r *iamv1.AccessRule) { r.Spec.Audiences = append(r.Spec.Audiences, a) }
	}

	g.Expect(update(asAlice, func(r *iamv1.AccessRule) { r.Spec.Description = "edited by the tenant" })).
		To(Succeed(), "an edit adding nothing must pass for a user holding fewer rights than the rule grants")
	g.Expect(update(asAlice, addScope("payments:read"))).
		To(MatchError(ContainSubstring(want("scope", "payments:read"))))
	g.Expect(update(asAlice, addAudience("https://payments.example.com"))).
		To(MatchError(ContainSubstring(want("audience", "https://payments.example.com"))))

	// The platform team delegates the payments scopes and audience.
	testutil.Install(t, k8s, aliceBinding(ns, "grant-payments", "signet-grant-payments"))
	g.Eventually(func() error { return update(asAlice, addScope("payments:read")) }).Should(Succeed(),
		"after a RoleBinding gives grant on the scope, the same update passes")
	g.Expect(update(asAlice, addAudience("https://payments.example.com"))).To(Succeed())

	// Grant on some names does not cover another added in the same update.
	err := update(asAlice, func(r *iamv1.AccessRule) {
		r.Spec.Scopes = []string{"payments:read", "orders:admin", "orders:write"}
		r.Spec.Audiences = append(r.Spec.Audiences, "https://orders.example.com")
	})
	g.Expect(err).To(MatchError(ContainSubstring(want("scope", "orders:admin"))))
	g.Expect(update(asAlice, addAudience("https://orders.example.com"))).
		To(MatchError(ContainSubstring(want("audience", "https://orders.example.com"))))
	// Beyond the additions the policy checks one by one (16 scopes), only a
	// user who may grant every scope may add more in one change.
	bulk := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "signet-test-grant-bulk"}}
	var many []string
	for i := range 17 {
		many = append(many, fmt.Sprintf("bulk:%d", i))
	}
	bulk.Rules = []rbacv1.PolicyRule{{APIGroups: []string{iamv1.GroupVersion.Group}, Resources: []string{"scopes"}, Verbs: []string{"grant"}, ResourceNames: many}}
	testutil.Install(t, k8s, bulk, aliceBinding(ns, "grant-bulk", bulk.Name))
	g.Eventually(func() error { return update(asAlice, addScope(many...)) }).
		Should(MatchError(ContainSubstring(`you may add at most 16 scopes in one change unless you may grant every scope`)))
	g.Expect(update(asAlice, addScope(many[:16]...))).To(Succeed())
	lots := make([]string, 100)
	for i := range lots {
		lots[i] = fmt.Sprintf("admin:%d", i)
	}
	g.Expect(update(k8s, addScope(lots...))).To(Succeed(), "a cluster admin adds any number of scopes")
	g.Expect(err.Error()).NotTo(ContainSubstring(`"payments:read"`), "a scope the user may grant is not named")

	// Removing needs no grant; neither does a new rule with granted names only.
	g.Expect(update(asAlice, func(r *iamv1.AccessRule) { r.Spec.Scopes = []string{"payments:read"}; r.Spec.Audiences = nil })).To(Succeed())
	fresh := rule.DeepCopy()
	fresh.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "fresh"}
	fresh.Spec.Audiences = []string{"https://payments.example.com"}
	g.Expect(asAlice.Create(ctx, fresh)).To(Succeed())

	// The delegation holds in alice's namespace only.
	other := newNamespace(t)
	testutil.Install(t, k8s, aliceBinding(other, "admin", "admin"), aliceBinding(other, "signet-admin", "signet-admin"))
	elsewhere := rule.DeepCopy()
	elsewhere.ObjectMeta = metav1.ObjectMeta{Namespace: other, Name: "payments"}
	g.Eventually(func() error { return asAlice.Create(ctx, elsewhere, client.DryRunAll) }).
		Should(MatchError(ContainSubstring(`in namespace "` + other + `"`)))
}

// aliceBinding binds alice, the test's namespace admin, to the ClusterRole
// role in namespace ns.
func aliceBinding(ns, name, role string) *rbacv1.RoleBinding {
	const user = "alice"
	return &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: user}},
	}
}
