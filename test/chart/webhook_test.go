package chart_test

import (
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/signet-iam/signet/internal/admission"
	"github.com/signet-iam/signet/internal/testutil"
)

// webhookFlags are the manager's flags that turn the admission webhook on
// and name its objects.
var webhookFlags = []string{"webhook-bind-address", "webhook-cert-dir", "webhook-cert-secret", "webhook-configuration", "webhook-service"}

// checkWebhook checks the admission webhook is rendered when and only when
// webhook.enabled is set (the default), wired as config/webhook wires it.
func checkWebhook(t *testing.T, tc renderCase, m manifest, deployments []*appsv1.Deployment) {
	t.Helper()
	var d *appsv1.Deployment
	for _, dep := range deployments {
		if container(&dep.Spec.Template.Spec, "manager") != nil {
			d = dep
		}
	}
	if d == nil {
		t.Fatal("no Deployment runs the manager")
	}
	if tc.noWebhook {
		f := flags(container(&d.Spec.Template.Spec, "manager"))
		for _, name := range webhookFlags {
			if _, ok := f[name]; ok {
				t.Errorf("webhook.enabled=false, but the manager has --%s", name)
			}
		}
		for _, kind := range []string{"ValidatingWebhookConfiguration", "Secret"} {
			if n := len(m.all(kind)); n != 0 {
				t.Errorf("webhook.enabled=false renders %d %s", n, kind)
			}
		}
		if m.get("Service", "signet-webhook") != nil {
			t.Error("webhook.enabled=false renders the webhook's Service")
		}
		if slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == "webhook-cert" }) {
			t.Error("webhook.enabled=false mounts the webhook's certificate")
		}
		return
	}
	checkWebhookWiring(t, m, d, namespace)
}

// checkWebhookWiring checks, in the chart or in config/default, that the
// manager's webhook flags name the objects rendered with it: the
// certificate Secret, mounted into the manager container alone at
// --webhook-cert-dir; the ValidatingWebhookConfiguration, whose webhook is
// config/webhook's (failurePolicy Ignore, a short timeout, only
// ClientCredential CREATE and UPDATE) calling --webhook-service at the
// validator's path; and that Service, reaching the manager's webhook port.
func checkWebhookWiring(t *testing.T, m manifest, d *appsv1.Deployment, ns string) {
	t.Helper()
	spec := &d.Spec.Template.Spec
	mgr := container(spec, "manager")
	f := flags(mgr)
	if f["webhook-bind-address"] != ":9443" || !hasPort(mgr, "webhook", 9443) {
		t.Errorf("the manager serves the webhook on %q with ports %+v, want :9443 as port webhook", f["webhook-bind-address"], mgr.Ports)
	}

	secretName := f["webhook-cert-secret"]
	if m.get("Secret", secretName) == nil {
		t.Errorf("--webhook-cert-secret=%q names no rendered Secret", secretName)
	}
	if s := m.get("Secret", secretName); s != nil && (s.Object["data"] != nil || s.Object["stringData"] != nil) {
		t.Errorf("the webhook's Secret is rendered with data; the manager writes it")
	}
	i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == secretName })
	if i < 0 {
		t.Fatalf("the Pod does not mount the Secret %s", secretName)
	}
	volume := spec.Volumes[i].Name
	if !slices.ContainsFunc(mgr.VolumeMounts, func(v corev1.VolumeMount) bool {
		return v.Name == volume && v.MountPath == f["webhook-cert-dir"] && v.ReadOnly
	}) {
		t.Errorf("the manager does not mount %s read-only at --webhook-cert-dir=%q: %+v", volume, f["webhook-cert-dir"], mgr.VolumeMounts)
	}
	// The Secret holds the webhook CA's private key: no other container
	// mounts it.
	for _, c := range spec.Containers {
		if c.Name != "manager" && slices.ContainsFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool { return v.Name == volume }) {
			t.Errorf("container %s mounts the webhook's certificate", c.Name)
		}
	}

	obj := m.get("ValidatingWebhookConfiguration", f["webhook-configuration"])
	if obj == nil {
		t.Fatalf("--webhook-configuration=%q names no rendered ValidatingWebhookConfiguration", f["webhook-configuration"])
	}
	got := decode[admissionregistrationv1.ValidatingWebhookConfiguration](t, obj)
	want := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	objs := testutil.ReadObjects(t, filepath.Join(root, "config", "webhook", "manifests.yaml"))
	decodeInto(t, objs[0], want)
	if len(got.Webhooks) != 1 || len(want.Webhooks) != 1 {
		t.Fatalf("want one webhook, got %d (config/webhook: %d)", len(got.Webhooks), len(want.Webhooks))
	}
	svc := got.Webhooks[0].ClientConfig.Service
	if svc == nil || svc.Name != f["webhook-service"] || svc.Namespace != ns || svc.Path == nil || *svc.Path != admission.ClientCredentialPath {
		t.Errorf("the webhook calls %+v, want Service %s/%s at %s", svc, ns, f["webhook-service"], admission.ClientCredentialPath)
	}
	if len(got.Webhooks[0].ClientConfig.CABundle) != 0 {
		t.Error("caBundle is rendered; the manager writes it")
	}
	got.Webhooks[0].ClientConfig, want.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{}, admissionregistrationv1.WebhookClientConfig{}
	if !reflect.DeepEqual(got.Webhooks[0], want.Webhooks[0]) {
		t.Errorf("the webhook differs from config/webhook's:\n got %+v\nwant %+v", got.Webhooks[0], want.Webhooks[0])
	}
	wh := got.Webhooks[0]
	if *wh.FailurePolicy != admissionregistrationv1.Ignore || *wh.SideEffects != admissionregistrationv1.SideEffectClassNone ||
		*wh.MatchPolicy != admissionregistrationv1.Equivalent || *wh.TimeoutSeconds > 5 ||
		!slices.Equal(wh.AdmissionReviewVersions, []string{"v1"}) {
		t.Errorf("the webhook must be failurePolicy Ignore, sideEffects None, matchPolicy Equivalent, at most 5 s, v1 reviews: %+v", wh)
	}
	if len(wh.Rules) != 1 || !slices.Equal(wh.Rules[0].APIGroups, []string{"iam.signet.dev"}) || !slices.Equal(wh.Rules[0].Resources, []string{"clientcredentials"}) ||
		!slices.Equal(wh.Rules[0].Operations, []admissionregistrationv1.OperationType{"CREATE", "UPDATE"}) {
		t.Errorf("the webhook must see ClientCredential creates and updates only: %+v", wh.Rules)
	}

	svcObj := m.get("Service", f["webhook-service"])
	if svcObj == nil {
		t.Fatalf("--webhook-service=%q names no rendered Service", f["webhook-service"])
	}
	service := decode[corev1.Service](t, svcObj)
	if matched := podsOf(t, labels.SelectorFromSet(service.Spec.Selector), []*appsv1.Deployment{d}); len(matched) != 1 {
		t.Errorf("Service %s does not select the manager's Pods", service.Name)
	}
	if len(service.Spec.Ports) != 1 || service.Spec.Ports[0].Port != 443 || service.Spec.Ports[0].TargetPort.StrVal != "webhook" {
		t.Errorf("Service %s ports %+v, want 443 to the named port webhook", service.Name, service.Spec.Ports)
	}
	if !strings.HasSuffix(f["webhook-configuration"], "validating-webhook") {
		t.Errorf("--webhook-configuration=%q", f["webhook-configuration"])
	}
}

// webhookRules returns the rules of the Role and the ClusterRole of
// config/webhook/role.yaml.
func webhookRules(t *testing.T) (role, clusterRole []rbacv1.PolicyRule) {
	t.Helper()
	for _, obj := range testutil.ReadObjects(t, filepath.Join(root, "config", "webhook", "role.yaml")) {
		switch obj.GetKind() {
		case "Role":
			role = decode[rbacv1.Role](t, obj).Rules
		case "ClusterRole":
			clusterRole = decode[rbacv1.Role](t, obj).Rules
		}
	}
	if role == nil || clusterRole == nil {
		t.Fatal("config/webhook/role.yaml must hold a Role and a ClusterRole")
	}
	return role, clusterRole
}
