package controllers

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// TestManagerRunsWithItsGeneratedRBAC runs the manager as a ServiceAccount
// holding only the ClusterRole generated from the kubebuilder markers
// (config/rbac/role.yaml) and the leader election Role, and walks a
// credential through issue, rotation with a rollout restart, and deletion.
// A marker missing for something the controllers do fails this test; the
// Forbidden checks show the role grants nothing it should not.
func TestManagerRunsWithItsGeneratedRBAC(t *testing.T) {
	h := newHarness(t, true)
	g := h.g
	user := "system:serviceaccount:" + h.signetNS + ":manager"
	subject := rbacv1.Subject{Kind: "ServiceAccount", Name: "manager", Namespace: h.signetNS}

	role := &rbacv1.ClusterRole{}
	readYAML(t, filepath.Join(env.Root, "config", "rbac", "role.yaml"), role)
	role.Name = "signet-manager-" + h.signetNS
	g.Expect(k8s.Create(h.ctx, role)).To(Succeed())
	g.Expect(k8s.Create(h.ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{subject},
	})).To(Succeed())
	election := &rbacv1.Role{}
	readYAML(t, filepath.Join(env.Root, "config", "rbac", "leader_election_role.yaml"), election)
	election.Namespace = h.signetNS
	g.Expect(k8s.Create(h.ctx, election)).To(Succeed())
	g.Expect(k8s.Create(h.ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "leader-election", Namespace: h.signetNS},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: election.Name},
		Subjects:   []rbacv1.Subject{subject},
	})).To(Succeed())

	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	h.startManagerAs(cfg, true)

	h.create(account("svc"))
	h.create(rule("svc", []string{"svc"}, "orders:read"))
	dep := deployment()
	h.create(dep)
	cc := clientCredential("svc", "svc", iamv1.ClientSecretType)
	cc.Spec.RolloutRestartTargets = []iamv1.RolloutRestartTarget{{Kind: "Deployment", Name: "api"}}
	h.create(cc)
	h.waitReady(cc)
	g.Eventually(func(g Gomega) { g.Expect(h.record(g, cc).Scopes).To(Equal([]string{"orders:read"})) }).Should(Succeed())
	g.Eventually(h.eventReasons).Should(ContainElement(HavePrefix(iamv1.IssuedReason)), "Events must be writable")

	update(h, cc, func(c *iamv1.ClientCredential) { c.Spec.Rotation.Trigger = "now" })
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(h.ctx, h.key("api"), dep)).To(Succeed())
		g.Expect(dep.Spec.Template.Annotations).To(HaveKey(annRestartedAt))
	}).WithTimeout(20 * time.Second).Should(Succeed())

	g.Expect(k8s.Delete(h.ctx, cc)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(k8s.Get(h.ctx, h.key("svc"), &iamv1.ClientCredential{}))
	}).Should(BeTrue())

	as, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	g.Expect(err).NotTo(HaveOccurred())
	for what, obj := range map[string]client.Object{
		"read ConfigMaps":             &corev1.ConfigMap{},
		"read Pods":                   &corev1.Pod{},
		"change its own ClusterRoles": &rbacv1.ClusterRole{},
	} {
		err := as.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "any"}, obj)
		g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the manager may %s: %v", what, err)
	}
	// It reads a rollout restart target by name (retirement WhenUnused
	// waits for its rollout), but may not list or watch workloads.
	err = as.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "any"}, &appsv1.Deployment{})
	g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the manager must be able to read a Deployment by name: %v", err)
	err = as.List(h.ctx, &appsv1.DeploymentList{}, client.InNamespace(h.ns))
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the manager may list Deployments: %v", err)
	err = as.Create(h.ctx, &iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "made-by-manager"}})
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the manager may create ServiceAccounts: %v", err)
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
