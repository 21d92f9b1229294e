package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/signet-iam/signet/internal/testenv"
	"github.com/signet-iam/signet/internal/testutil"
)

// TestScopePolicyLimitsWhatANamespaceMayGrant installs the optional
// admission policy from config/policy and checks that the API server
// enforces the scopes the platform team allows each namespace.
func TestScopePolicyLimitsWhatANamespaceMayGrant(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(env.Root, "config", "policy", "accessrule_scopes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The AccessRule binding is narrowed to this test's namespaces, so that
	// the other tests sharing the API server never meet the policy. The
	// writers' binding touches only the policy's own ConfigMap.
	const label = "signet-policy-test"
	for _, doc := range strings.Split(string(data), "\n---") {
		obj := decode(t, doc, "")
		if obj.GetKind() == "ValidatingAdmissionPolicyBinding" && obj.GetName() == "signet-accessrule-scopes" {
			if err := unstructured.SetNestedStringMap(obj.Object, map[string]string{label: "true"},
				"spec", "matchResources", "namespaceSelector", "matchLabels"); err != nil {
				t.Fatal(err)
			}
		}
		if err := k8s.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("installing %s: %v", obj.GetKind(), err)
		}
		t.Cleanup(func() { _ = k8s.Delete(ctx, obj) })
	}
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "signet-system"}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	limited, open := newNamespace(t), newNamespace(t)
	for _, name := range []string{limited, open} {
		ns := &corev1.Namespace{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
			t.Fatal(err)
		}
		ns.Labels[label] = "true"
		if err := k8s.Update(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	policy := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "signet-system", Name: "signet-scope-policy"},
		Data:       map[string]string{limited: "orders:read  billing:*"},
	}
	if err := k8s.Create(ctx, policy); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k8s.Delete(ctx, policy) })

	ruleIn := func(ns, name string, scopes ...string) error {
		doc := "apiVersion: iam.signet.dev/v1alpha1\nkind: AccessRule\nmetadata: {name: " + name + "}\n" +
			"spec:\n  subjects: [{name: app}]\n  scopes: [\"" + strings.Join(scopes, `", "`) + "\"]"
		return k8s.Create(ctx, decode(t, doc, ns), client.DryRunAll)
	}
	// The API server picks policies up asynchronously: wait until it denies.
	deadline := time.Now().Add(30 * time.Second)
	for ruleIn(limited, "probe", "orders:write") == nil {
		if time.Now().After(deadline) {
			t.Fatal("the scope policy never took effect")
		}
		time.Sleep(100 * time.Millisecond)
	}

	tests := map[string]struct {
		ns      func() string
		scopes  []string
		allowed bool
	}{
		"a listed scope is allowed":                     {func() string { return limited }, []string{"orders:read"}, true},
		"a scope under an allowed prefix is allowed":    {func() string { return limited }, []string{"billing:export", "orders:read"}, true},
		"a scope outside the list is denied":            {func() string { return limited }, []string{"orders:read", "orders:write"}, false},
		"a prefix does not match a shorter scope":       {func() string { return limited }, []string{"billing"}, false},
		"a namespace not in the policy is unrestricted": {func() string { return open }, []string{"anything:goes"}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := ruleIn(tc.ns(), "r", tc.scopes...)
			switch {
			case tc.allowed && err != nil:
				t.Fatalf("denied: %v", err)
			case !tc.allowed && err == nil:
				t.Fatal("allowed")
			case !tc.allowed && !strings.Contains(err.Error(), "may grant only the scopes"):
				t.Fatalf("denied with an unhelpful message: %v", err)
			}
		})
	}

	// A _default entry restricts every namespace that is not listed.
	policy.Data["_default"] = "public:*"
	if err := k8s.Update(ctx, policy); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for ruleIn(open, "probe", "anything:goes") == nil {
		if time.Now().After(deadline) {
			t.Fatal("the default entry never took effect")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := ruleIn(open, "r", "public:read"); err != nil {
		t.Fatalf("a default-allowed scope was denied: %v", err)
	}

	// The token server writes ConfigMaps in the Signet namespace (its
	// ledgers) but never the policy: a ServiceAccount of that namespace is
	// refused at admission whatever RBAC gives it (here, everything).
	asTokenServer := testutil.As(t, env.Config, testenv.Scheme(), testutil.ServiceAccountUser("signet-system", "signet-token-server"), "system:masters")
	g := NewWithT(t)
	g.Eventually(func() error {
		widened := policy.DeepCopy()
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(policy), widened); err != nil {
			return err
		}
		widened.Data[limited] = "*"
		return asTokenServer.Update(ctx, widened)
	}).WithTimeout(30 * time.Second).Should(MatchError(ContainSubstring("the scope policy may not be written by system:serviceaccount:signet-system:signet-token-server")))
	g.Expect(asTokenServer.Delete(ctx, policy)).To(MatchError(ContainSubstring("the scope policy may not be written")))
	ledger := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "signet-system", GenerateName: "ledger-"}}
	g.Expect(asTokenServer.Create(ctx, ledger, client.DryRunAll)).To(Succeed(), "other ConfigMaps stay writable")
}
