package chart_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/signet-iam/signet/internal/testenv"
)

// actor is one identity of the "Who may do what" table in docs/security.md.
type actor struct {
	user   string
	groups []string
}

func serviceAccount(ns, name string) actor {
	return actor{"system:serviceaccount:" + ns + ":" + name, []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}}
}

var (
	manager     = serviceAccount(namespace, "signet")
	tokenServer = serviceAccount(namespace, "signet-token-server")
	workload    = serviceAccount("team-a", "app")
	gitOps      = serviceAccount("argocd", "argocd-application-controller")
	// tenantAdmin administers team-a (admin and signet-admin there);
	// delegatedAdmin is one too, and a member of the group the platform
	// team delegated the payments scopes to.
	tenantAdmin    = actor{"alice", []string{"system:authenticated"}}
	delegatedAdmin = actor{"bob", []string{"team-a-admins", "system:authenticated"}}
	platformAdmin  = actor{"platform", []string{"system:authenticated"}}
	viewer         = actor{"victor", []string{"system:authenticated"}}
)

// access is one question to the API server's authorizer.
type access struct {
	verb, resource, name, ns string
	group                    string
}

func core(verb, resource, ns, name string) access { return access{verb, resource, name, ns, ""} }
func authn(verb, resource string) access {
	return access{verb, resource, "", "", "authentication.k8s.io"}
}
func webhookConfig(verb, resource, name string) access {
	return access{verb, resource, name, "", "admissionregistration.k8s.io"}
}
func signet(verb, resource, ns, name string) access {
	return access{verb, resource, name, ns, "iam.signet.dev"}
}

// TestRBACOnTheAPIServer applies the RBAC the chart renders, its tenant
// roles and the example delegation of config/rbac/examples, to a real API
// server, and asks it with SubjectAccessReviews what each actor of
// docs/security.md may and may not do. It then tries the one way around the
// escalation guard RBAC leaves open to a namespace admin, binding a role
// that grants, and expects the API server to refuse it.
func TestRBACOnTheAPIServer(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	kubectl := newKubectl(t, env)
	var stream bytes.Buffer
	stream.WriteString("apiVersion: v1\nkind: Namespace\nmetadata: {name: " + namespace + "}\n---\n" +
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: team-a}\n---\n" +
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: team-b}\n")
	for _, obj := range render(t, nil) {
		switch obj.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			writeDoc(t, &stream, obj.Object)
		}
	}
	kubectl.apply(t, "", false, stream.Bytes())
	example, err := parseManifest(readFile(t, filepath.Join(root, "config", "rbac", "examples", "grant_scopes.yaml")))
	if err != nil {
		t.Fatal(err)
	}
	stream.Reset()
	for _, obj := range example {
		writeDoc(t, &stream, obj.Object)
	}
	// This control plane runs no kube-controller-manager, which aggregates
	// the aggregate-to-admin roles (Kubernetes' and signet-admin) into admin:
	// namespace admins are bound to each of them.
	type binding struct{ ns, role, user string }
	bindings := []binding{{"team-a", "signet-view", "victor"}}
	for _, user := range []string{"alice", "bob"} {
		for _, role := range []string{"admin", "system:aggregate-to-admin", "system:aggregate-to-edit", "system:aggregate-to-view", "signet-admin"} {
			bindings = append(bindings, binding{"team-a", role, user})
		}
	}
	for _, b := range bindings {
		writeDoc(t, &stream, &rbacv1.RoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: strings.ReplaceAll(b.role, ":", "-") + "-" + b.user},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: b.role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: b.user}},
		})
	}
	writeDoc(t, &stream, &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: "platform-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "platform"}},
	})
	kubectl.apply(t, "", false, stream.Bytes())

	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	const payments, paymentsAPI = "payments:read", "https://payments.example.com"
	cases := []struct {
		who     string
		actor   actor
		access  access
		allowed bool
	}{
		{"the token server reads Secrets in its namespace", tokenServer, core("get", "secrets", namespace, ""), true},
		{"the token server watches Secrets in its namespace", tokenServer, core("watch", "secrets", namespace, ""), true},
		{"the token server writes its ledgers", tokenServer, core("create", "configmaps", namespace, ""), true},
		{"the token server cannot read a tenant's Secrets", tokenServer, core("list", "secrets", "team-a", ""), false},
		{"the token server cannot read Secrets cluster-wide", tokenServer, core("list", "secrets", "", ""), false},
		{"the token server cannot write Secrets", tokenServer, core("update", "secrets", namespace, "signet-hash-key"), false},
		{"the token server cannot write ConfigMaps elsewhere", tokenServer, core("create", "configmaps", "team-a", ""), false},
		{"the token server cannot mint tokens", tokenServer, core("create", "serviceaccounts/token", namespace, "signet"), false},
		{"the token server reviews ServiceAccount tokens", tokenServer, authn("create", "tokenreviews"), true},
		{"the token server cannot read AccessRules", tokenServer, signet("list", "accessrules", "team-a", ""), false},

		{"the manager mints the token server's token", manager, core("create", "serviceaccounts/token", namespace, "signet-token-server"), true},
		{"the manager cannot mint its own token", manager, core("create", "serviceaccounts/token", namespace, "signet"), false},
		{"the manager cannot mint another account's token", manager, core("create", "serviceaccounts/token", namespace, "other"), false},
		{"the manager cannot mint a token by any name", manager, core("create", "serviceaccounts/token", namespace, ""), false},
		{"the manager cannot mint a tenant account's token", manager, core("create", "serviceaccounts/token", "team-a", "default"), false},
		{"the manager writes workload Secrets", manager, core("patch", "secrets", "team-a", ""), true},
		{"the manager cannot grant scopes", manager, signet("grant", "scopes", "team-a", payments), false},
		{"the manager cannot bind roles", manager, access{"create", "rolebindings", "", "team-a", "rbac.authorization.k8s.io"}, false},
		{"the manager cannot read ConfigMaps", manager, core("get", "configmaps", "team-a", ""), false},
		{"the manager cannot read Pods", manager, core("list", "pods", "team-a", ""), false},
		{"the manager renews the webhook's certificate", manager, core("update", "secrets", namespace, "signet-webhook-cert"), true},
		{"the manager cannot update other Secrets", manager, core("update", "secrets", namespace, "signet-hash-key"), false},
		{"the manager injects the webhook's caBundle", manager, webhookConfig("update", "validatingwebhookconfigurations", "signet-validating-webhook"), true},
		{"the manager watches its webhook configuration", manager, webhookConfig("watch", "validatingwebhookconfigurations", "signet-validating-webhook"), true},
		{"the manager cannot list every webhook configuration", manager, webhookConfig("list", "validatingwebhookconfigurations", ""), false},
		{"the manager watches the webhook's certificate", manager, core("watch", "secrets", namespace, "signet-webhook-cert"), true},
		{"the manager cannot change another webhook configuration", manager, webhookConfig("update", "validatingwebhookconfigurations", "other"), false},
		{"the manager cannot delete its webhook configuration", manager, webhookConfig("delete", "validatingwebhookconfigurations", "signet-validating-webhook"), false},
		{"the manager cannot create webhook configurations", manager, webhookConfig("create", "validatingwebhookconfigurations", ""), false},
		{"the manager cannot write mutating webhooks", manager, webhookConfig("update", "mutatingwebhookconfigurations", "signet-validating-webhook"), false},
		{"the token server cannot change the webhook configuration", tokenServer, webhookConfig("update", "validatingwebhookconfigurations", "signet-validating-webhook"), false},

		{"a tenant admin writes AccessRules", tenantAdmin, signet("create", "accessrules", "team-a", ""), true},
		{"a tenant admin cannot grant a scope", tenantAdmin, signet("grant", "scopes", "team-a", payments), false},
		{"a tenant admin cannot grant an audience", tenantAdmin, signet("grant", "audiences", "team-a", paymentsAPI), false},
		{"a tenant admin cannot write another namespace's rules", tenantAdmin, signet("create", "accessrules", "team-b", ""), false},
		{"a tenant admin cannot read Signet's Secrets", tenantAdmin, core("get", "secrets", namespace, ""), false},
		{"a delegated tenant admin grants a delegated scope", delegatedAdmin, signet("grant", "scopes", "team-a", payments), true},
		{"a delegated tenant admin grants a delegated audience", delegatedAdmin, signet("grant", "audiences", "team-a", paymentsAPI), true},
		{"a delegated tenant admin cannot grant another scope", delegatedAdmin, signet("grant", "scopes", "team-a", "orders:write"), false},
		{"a delegated tenant admin cannot grant every scope", delegatedAdmin, signet("grant", "scopes", "team-a", ""), false},
		{"a delegated tenant admin cannot grant in another namespace", delegatedAdmin, signet("grant", "scopes", "team-b", payments), false},
		{"a viewer reads AccessRules", viewer, signet("list", "accessrules", "team-a", ""), true},
		{"a viewer cannot write AccessRules", viewer, signet("update", "accessrules", "team-a", ""), false},

		{"the GitOps controller grants a delegated scope", gitOps, signet("grant", "scopes", "team-a", "payments:write"), true},
		{"the GitOps controller cannot grant another scope", gitOps, signet("grant", "scopes", "team-a", "admin"), false},
		{"the GitOps controller cannot grant in another namespace", gitOps, signet("grant", "scopes", "team-b", payments), false},

		{"a platform admin grants any scope", platformAdmin, signet("grant", "scopes", "team-b", "anything"), true},
		{"a platform admin grants every scope", platformAdmin, signet("grant", "scopes", "team-b", ""), true},

		{"a workload cannot read AccessRules", workload, signet("get", "accessrules", "team-a", ""), false},
		{"a workload cannot read Signet's Secrets", workload, core("get", "secrets", namespace, ""), false},
		{"a workload cannot grant", workload, signet("grant", "scopes", "team-a", payments), false},
	}
	for _, tc := range cases {
		t.Run(tc.who, func(t *testing.T) {
			a := tc.access
			sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: tc.actor.user, Groups: tc.actor.groups,
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: a.ns, Verb: a.verb, Group: a.group, Resource: resourceOf(a.resource), Subresource: subresourceOf(a.resource), Name: a.name},
			}}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sar.Status.Allowed != tc.allowed {
				t.Errorf("%s %s %s/%s in %q: allowed=%v, want %v (%s)", tc.actor.user, a.verb, a.resource, a.name, a.ns, sar.Status.Allowed, tc.allowed, sar.Status.Reason)
			}
		})
	}

	t.Run("a tenant admin cannot give themselves grant through RBAC", func(t *testing.T) {
		cfg := rest.CopyConfig(env.Config)
		cfg.Impersonate = rest.ImpersonationConfig{UserName: tenantAdmin.user, Groups: tenantAdmin.groups}
		alice, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		subjects := []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: tenantAdmin.user}}
		_, err = alice.RbacV1().RoleBindings("team-a").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "self-grant"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "signet-grant-payments"},
			Subjects:   subjects,
		}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("a namespace admin bound the delegation role to themselves: %v", err)
		}
		_, err = alice.RbacV1().Roles("team-a").Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "self-grant"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"iam.signet.dev"}, Resources: []string{"scopes"}, Verbs: []string{"grant"}}},
		}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("a namespace admin created a Role that grants scopes: %v", err)
		}
		// What the same admin may do in RBAC is otherwise untouched.
		if _, err := alice.RbacV1().RoleBindings("team-a").Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "viewers"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "signet-view"},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: "someone"}},
		}, metav1.CreateOptions{}); err != nil {
			t.Errorf("a namespace admin cannot bind signet-view: %v", err)
		}
	})
}

func resourceOf(r string) string    { res, _, _ := strings.Cut(r, "/"); return res }
func subresourceOf(r string) string { _, sub, _ := strings.Cut(r, "/"); return sub }
