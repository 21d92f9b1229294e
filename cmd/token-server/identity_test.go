package main

import (
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/satoken"
	"github.com/signet-iam/signet/internal/testutil"
)

// TestRunsAsItsOwnServiceAccount is SECURITY.md 31 for the sidecar layout:
// a token server holding only a token of its own ServiceAccount, bound only
// to config/rbac/token_server_role.yaml, written by the TokenRequest writer
// the manager runs and read through --kube-token-file as main reads it,
// starts, issues tokens and records a revocation, and may read no Secret
// outside its namespace.
func TestRunsAsItsOwnServiceAccount(t *testing.T) {
	ns, fx := namespace(t, cs)
	bindTokenServerRole(t, ns)
	dir := t.TempDir()
	tokenFile, caFile := filepath.Join(dir, "token"), filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, env.Config.CAData, 0o600); err != nil {
		t.Fatal(err)
	}
	w := &satoken.Writer{Client: cs.CoreV1(), Namespace: ns, ServiceAccount: "token-server", Path: tokenFile, Lifetime: time.Hour}
	if _, err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", host)
	t.Setenv("KUBERNETES_SERVICE_PORT", port)
	cfg, err := restConfig(t.Context(), options{kubeTokenFile: tokenFile, kubeCAFile: caFile})
	if err != nil {
		t.Fatal(err)
	}

	own, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := own.CoreV1().Secrets(ns).List(t.Context(), metav1.ListOptions{}); err != nil {
		t.Fatalf("the token server cannot list Secrets in its namespace: %v", err)
	}
	for _, other := range []string{"default", "kube-system"} {
		if _, err := own.CoreV1().Secrets(other).List(t.Context(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("the token server may list Secrets in %s: %v", other, err)
		}
	}
	if _, err := own.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("the token server may create Secrets: %v", err)
	}

	// The record exists before the server starts: Ready means its index
	// holds it, so the first request cannot race the watch.
	cl := newClient(t, fx, record.TypeClientSecret, "own-identity")
	in := start(t, cfg, ns, nil)
	r := in.token(t, cl)
	if r.status != http.StatusOK {
		t.Fatalf("token: %d %s", r.status, r.body)
	}
	token := r.json["access_token"].(string)
	if !in.active(t, token, cl) {
		t.Fatal("a fresh token is not active")
	}
	if r := post(t, in.url+"/oauth2/revoke", url.Values{"token": {token}}, cl.ID(), cl.Secret); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s (a failure to record the revocation answers 503)", r.status, r.body)
	}
	if in.active(t, token, cl) {
		t.Error("a revoked token is still active")
	}
	if n := len(stateObjects(t, ns)); n != 1 {
		t.Errorf("%d ledger ConfigMaps after a revocation, want 1", n)
	}
}

// bindTokenServerRole creates the token server's ServiceAccount and binds
// the Role of config/rbac/token_server_role.yaml to it, in ns.
func bindTokenServerRole(t *testing.T, ns string) {
	t.Helper()
	ctx := t.Context()
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "token-server"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	objs := testutil.ReadObjects(t, filepath.Join(env.Root, "config", "rbac", "token_server_role.yaml"))
	role := &rbacv1.Role{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, role); err != nil {
		t.Fatal(err)
	}
	role.Namespace = ns
	if _, err := cs.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "token-server", Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
