package chart_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/signet-iam/signet/internal/testutil"
)

// TestScopePolicy checks the optional scope policy: off by default; when on,
// the same ValidatingAdmissionPolicy as config/policy (which the API tests
// exercise on a real API server), bound to a parameter in the release
// namespace, with the scopes from the values.
func TestScopePolicy(t *testing.T) {
	for _, obj := range render(t, nil) {
		if strings.HasPrefix(obj.GetKind(), "ValidatingAdmissionPolicy") && obj.GetName() != "signet-accessrule-grant" && obj.GetName() != "signet-clientcredential-federation" {
			t.Fatalf("the scope policy is rendered by default (%s %s)", obj.GetKind(), obj.GetName())
		}
	}

	const releaseNS = "iam"
	scopes := map[string]any{"payments": "orders:read billing:*", "_default": "public:*"}
	m := render(t, map[string]any{"scopePolicy": map[string]any{"enabled": true, "scopes": scopes}}, "--namespace", releaseNS)

	want := &admissionv1.ValidatingAdmissionPolicy{}
	data, err := os.ReadFile(filepath.Join(root, "config", "policy", "accessrule_scopes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	policyDoc, _, _ := strings.Cut(string(data), "\n---")
	if err := yaml.UnmarshalStrict([]byte(policyDoc), want); err != nil {
		t.Fatal(err)
	}
	got := decode[admissionv1.ValidatingAdmissionPolicy](t, m.get("ValidatingAdmissionPolicy", want.Name))
	if !reflect.DeepEqual(got.Spec, want.Spec) {
		t.Error("the chart's policy differs from config/policy/accessrule_scopes.yaml; run make manifests")
	}
	binding := decode[admissionv1.ValidatingAdmissionPolicyBinding](t, m.get("ValidatingAdmissionPolicyBinding", want.Name))
	if ref := binding.Spec.ParamRef; ref == nil || ref.Namespace != releaseNS || ref.Name != "signet-scope-policy" ||
		ref.ParameterNotFoundAction == nil || *ref.ParameterNotFoundAction != admissionv1.DenyAction {
		t.Errorf("the binding's parameter is %+v, want signet-scope-policy in the release namespace %s, denying when it is missing", ref, releaseNS)
	}
	cm := decode[corev1.ConfigMap](t, m.get("ConfigMap", "signet-scope-policy"))
	if cm.Namespace != releaseNS || cm.Data["payments"] != "orders:read billing:*" || cm.Data["_default"] != "public:*" {
		t.Errorf("parameter ConfigMap %s/%s holds %v", cm.Namespace, cm.Name, cm.Data)
	}

	if _, err := template(t, map[string]any{"scopePolicy": map[string]any{"scopes": map[string]any{"Not_A_Namespace": "x"}}}); err == nil {
		t.Error("the schema accepted a scope policy key that is not a namespace")
	}
}

// TestGrantPolicy checks the escalation guard: rendered by default, the same
// policy as config/policy/accessrule_grant.yaml (which the API tests
// exercise on a real API server) under the release's name, bound to deny.
func TestGrantPolicy(t *testing.T) {
	want := &admissionv1.ValidatingAdmissionPolicy{}
	policyDoc := testutil.ReadObjects(t, filepath.Join(root, "config", "policy", "accessrule_grant.yaml"))[0]
	decodeInto(t, policyDoc, want)
	m := render(t, nil)
	got := decode[admissionv1.ValidatingAdmissionPolicy](t, m.get("ValidatingAdmissionPolicy", "signet-accessrule-grant"))
	if !reflect.DeepEqual(got.Spec, want.Spec) {
		t.Error("the chart's grant policy differs from config/policy/accessrule_grant.yaml; run make manifests")
	}
	binding := decode[admissionv1.ValidatingAdmissionPolicyBinding](t, m.get("ValidatingAdmissionPolicyBinding", "signet-accessrule-grant"))
	if binding.Spec.PolicyName != got.Name || !reflect.DeepEqual(binding.Spec.ValidationActions, []admissionv1.ValidationAction{admissionv1.Deny}) {
		t.Errorf("the binding is %+v", binding.Spec)
	}
	for _, obj := range render(t, map[string]any{"grantPolicy": map[string]any{"enabled": false}}) {
		if obj.GetName() == "signet-accessrule-grant" {
			t.Errorf("grantPolicy.enabled=false still renders %s", obj.GetKind())
		}
	}
}
