package chart_test

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/signet-iam/signet/internal/testenv"
)

// TestKustomizeDefault renders config/default with kubectl's kustomize and
// applies it to the real API server, so the kustomize manifests stay
// installable next to the chart; its Pod must meet the restricted Pod
// Security Standard like the chart's (the apply fails on a Pod Security
// warning).
func TestKustomizeDefault(t *testing.T) {
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(filepath.Join(assets, "kubectl"), "kustomize", filepath.Join(root, "config", "default")).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v\n%s", err, out)
	}
	m, err := parseManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	deployments := decodeAll[appsv1.Deployment](t, m, "Deployment")
	if len(deployments) != 1 {
		t.Fatalf("want one Deployment, got %d", len(deployments))
	}
	if v := restrictedViolations(&deployments[0].Spec.Template.Spec); len(v) > 0 {
		t.Errorf("the manager Pod breaks the restricted standard: %s", strings.Join(v, "; "))
	}
	if m.get("Service", "signet-token-server") == nil {
		t.Error("no Service for the token endpoint")
	}
	checkKustomizeIdentity(t, m, deployments[0])
	checkWebhookWiring(t, m, deployments[0], "signet-system")
	checkKustomizeWebhookRBAC(t, m, deployments[0])

	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	newKubectl(t, env).apply(t, "", false, out)
}

// checkKustomizeIdentity checks SECURITY.md 31 in config/default, whose
// flags and resourceNames spell out names kustomize's prefix produces: the
// manager writes a token of the ServiceAccount the token server's Role is
// bound to, may request no other, and the Pod mounts no token for the
// token server.
func checkKustomizeIdentity(t *testing.T, m manifest, d *appsv1.Deployment) {
	t.Helper()
	spec := &d.Spec.Template.Spec
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("the manager's Pod must set automountServiceAccountToken: false")
	}
	account := flags(container(spec, "manager"))["token-server-service-account"]
	if m.get("ServiceAccount", account) == nil {
		t.Fatalf("--token-server-service-account=%q names no ServiceAccount", account)
	}
	if got := flags(container(spec, "token-server"))["kube-token-file"]; got == "" || got != flags(container(spec, "manager"))["token-server-token-file"] {
		t.Errorf("the token server reads its token from %q, the manager writes it to %q", got, flags(container(spec, "manager"))["token-server-token-file"])
	}
	for _, b := range decodeAll[rbacv1.RoleBinding](t, m, "RoleBinding") {
		switch b.RoleRef.Name {
		case "signet-token-server-role":
			if len(b.Subjects) != 1 || b.Subjects[0].Name != account {
				t.Errorf("the token server's Role is bound to %+v, want %s alone", b.Subjects, account)
			}
		case "signet-token-requester-role":
			if len(b.Subjects) != 1 || b.Subjects[0].Name != spec.ServiceAccountName {
				t.Errorf("the token requester Role is bound to %+v, want the manager %s alone", b.Subjects, spec.ServiceAccountName)
			}
		}
	}
	requester := m.get("Role", "signet-token-requester-role")
	if requester == nil {
		t.Fatal("no token requester Role")
	}
	rules := decode[rbacv1.Role](t, requester).Rules
	if len(rules) != 1 || !reflect.DeepEqual(rules[0].ResourceNames, []string{account}) {
		t.Errorf("the manager may request tokens of %+v, want %s alone", rules, account)
	}
}

// checkKustomizeWebhookRBAC checks the webhook's RBAC in config/default,
// whose resourceNames spell out the names kustomize's prefix produces: the
// manager may read and write the Secret and the configuration its flags
// name, and no other, and the roles are bound to the manager alone.
func checkKustomizeWebhookRBAC(t *testing.T, m manifest, d *appsv1.Deployment) {
	t.Helper()
	f := flags(container(&d.Spec.Template.Spec, "manager"))
	for _, c := range []struct{ kind, name, resource, object string }{
		{"Role", "signet-webhook-cert-role", "secrets", f["webhook-cert-secret"]},
		{"ClusterRole", "signet-webhook-configuration-role", "validatingwebhookconfigurations", f["webhook-configuration"]},
	} {
		obj := m.get(c.kind, c.name)
		if obj == nil {
			t.Fatalf("no %s %s", c.kind, c.name)
		}
		for _, rule := range decode[rbacv1.Role](t, obj).Rules {
			if !reflect.DeepEqual(rule.Resources, []string{c.resource}) {
				t.Errorf("%s %s grants %v", c.kind, c.name, rule.Resources)
			}
			if !reflect.DeepEqual(rule.ResourceNames, []string{c.object}) {
				t.Errorf("%s %s: %v on %v, want only on %s", c.kind, c.name, rule.Verbs, rule.ResourceNames, c.object)
			}
			if slices.Contains(rule.Verbs, "delete") || slices.Contains(rule.Verbs, "create") || slices.Contains(rule.Verbs, "*") {
				t.Errorf("%s %s may create or delete: %+v", c.kind, c.name, rule)
			}
		}
	}
	bindings := append(decodeAll[rbacv1.RoleBinding](t, m, "RoleBinding"), func() []*rbacv1.RoleBinding {
		var out []*rbacv1.RoleBinding
		for _, b := range decodeAll[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding") {
			out = append(out, &rbacv1.RoleBinding{ObjectMeta: b.ObjectMeta, RoleRef: b.RoleRef, Subjects: b.Subjects})
		}
		return out
	}()...)
	bound := 0
	for _, b := range bindings {
		if strings.HasPrefix(b.RoleRef.Name, "signet-webhook-") {
			bound++
			if len(b.Subjects) != 1 || b.Subjects[0].Name != d.Spec.Template.Spec.ServiceAccountName {
				t.Errorf("%s is bound to %+v, want the manager alone", b.RoleRef.Name, b.Subjects)
			}
		}
	}
	if bound != 2 {
		t.Errorf("%d bindings of the webhook's roles, want 2", bound)
	}
}
