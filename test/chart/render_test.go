package chart_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/signet-iam/signet/internal/testutil"
)

// renderCase is one value set and what the chart must render for it.
type renderCase struct {
	values map[string]any
	// managerReplicas is the replica count of the manager's Deployment.
	managerReplicas int32
	// tokenServerReplicas is the replica count of the standalone token
	// server's Deployment; zero means the token server is a sidecar.
	tokenServerReplicas int32
	// tlsSecret is the Secret the token server must mount.
	tlsSecret string
	// issuer is the --issuer both binaries must get.
	issuer string
	// certificate, serviceMonitor and networkPolicy say which optional
	// objects must be rendered.
	certificate, serviceMonitor, networkPolicy bool
	// noWebhook: webhook.enabled is false, so the admission webhook and
	// its objects must not be rendered.
	noWebhook bool
}

const defaultIssuer = "https://signet-token-server.signet-system.svc"

var renderCases = map[string]renderCase{
	"the defaults run two Pods, each with the manager and the token server": {
		managerReplicas: 2, tlsSecret: "signet-token-server-tls", issuer: defaultIssuer,
	},
	"three replicas": {
		values:          map[string]any{"replicaCount": 3},
		managerReplicas: 3, tlsSecret: "signet-token-server-tls", issuer: defaultIssuer,
	},
	"one replica has no disruption budget": {
		values:          map[string]any{"replicaCount": 1},
		managerReplicas: 1, tlsSecret: "signet-token-server-tls", issuer: defaultIssuer,
	},
	"a standalone token server has its own Deployment and ServiceAccount": {
		values: map[string]any{
			"replicaCount": 1,
			"tokenServer":  map[string]any{"standalone": true, "replicaCount": 3},
		},
		managerReplicas: 1, tokenServerReplicas: 3, tlsSecret: "signet-token-server-tls", issuer: defaultIssuer,
	},
	"cert-manager issues the token server's certificate": {
		values: map[string]any{"tls": map[string]any{"certManager": map[string]any{
			"enabled":   true,
			"issuerRef": map[string]any{"name": "signet-ca", "kind": "ClusterIssuer"},
		}}},
		managerReplicas: 2, tlsSecret: "signet-token-server-tls", issuer: defaultIssuer, certificate: true,
	},
	"an existing Secret holds the token server's certificate": {
		values:          map[string]any{"tls": map[string]any{"existingSecret": "token-endpoint-tls"}},
		managerReplicas: 2, tlsSecret: "token-endpoint-tls", issuer: defaultIssuer,
	},
	"ServiceMonitor, dashboard, alerts and NetworkPolicy": {
		values: map[string]any{
			"prometheus": map[string]any{"serviceMonitor": map[string]any{"enabled": true}},
			"monitoring": monitoringValues["monitoring"],
			"networkPolicy": map[string]any{
				"enabled":   true,
				"tokenFrom": []any{map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"signet.dev/clients": "true"}}}},
			},
		},
		managerReplicas: 2, tlsSecret: "signet-token-server-tls", issuer: defaultIssuer, serviceMonitor: true, networkPolicy: true,
	},
	"standalone with monitoring, network policy and cert-manager": {
		values: map[string]any{
			"tokenServer":   map[string]any{"standalone": true},
			"prometheus":    map[string]any{"serviceMonitor": map[string]any{"enabled": true}},
			"networkPolicy": map[string]any{"enabled": true},
			"tls":           map[string]any{"certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "signet-ca"}}},
		},
		managerReplicas: 2, tokenServerReplicas: 2, tlsSecret: "signet-token-server-tls", issuer: defaultIssuer,
		certificate: true, serviceMonitor: true, networkPolicy: true,
	},
	"an external issuer and a non-default Service port": {
		values:          map[string]any{"issuer": "https://auth.example.com", "service": map[string]any{"port": 8443}},
		managerReplicas: 2, tlsSecret: "signet-token-server-tls", issuer: "https://auth.example.com",
	},
	"the admission webhook off": {
		values:          map[string]any{"webhook": map[string]any{"enabled": false}},
		managerReplicas: 2, tlsSecret: "signet-token-server-tls", issuer: defaultIssuer, noWebhook: true,
	},
	"the admission webhook off, with a standalone token server and a NetworkPolicy": {
		values: map[string]any{
			"webhook":       map[string]any{"enabled": false},
			"tokenServer":   map[string]any{"standalone": true},
			"networkPolicy": map[string]any{"enabled": true},
		},
		managerReplicas: 2, tokenServerReplicas: 2, tlsSecret: "signet-token-server-tls", issuer: defaultIssuer,
		networkPolicy: true, noWebhook: true,
	},
	"the default issuer names a non-default Service port": {
		values:          map[string]any{"service": map[string]any{"port": 9443}},
		managerReplicas: 2, tlsSecret: "signet-token-server-tls", issuer: defaultIssuer + ":9443",
	},
}

func TestRender(t *testing.T) {
	for name, tc := range renderCases {
		t.Run(name, func(t *testing.T) {
			m := render(t, tc.values)
			deployments := decodeAll[appsv1.Deployment](t, m, "Deployment")
			checkKinds(t, m)
			checkDeployments(t, tc, deployments)
			for _, d := range deployments {
				if v := restrictedViolations(&d.Spec.Template.Spec); len(v) > 0 {
					t.Errorf("Deployment %s does not meet the restricted Pod Security Standard: %s", d.Name, strings.Join(v, "; "))
				}
			}
			cluster, namespaced := generatedManagerRules(t)
			checkRBAC(t, m, deployments, cluster, namespaced)
			checkDisruptionBudgets(t, m, deployments)
			checkService(t, m, deployments)
			checkTLS(t, tc, m, deployments)
			checkMonitoring(t, tc, m, deployments)
			checkNetworkPolicy(t, tc, m, deployments)
			checkWebhook(t, tc, m, deployments)
		})
	}
}

// renderedKinds are the kinds the chart may render.
var renderedKinds = map[string]bool{
	"Deployment": true, "Service": true, "ServiceAccount": true, "PodDisruptionBudget": true, "NetworkPolicy": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true,
	"Certificate": true, "ServiceMonitor": true, "ConfigMap": true, "PrometheusRule": true,
	"ValidatingAdmissionPolicy": true, "ValidatingAdmissionPolicyBinding": true,
	// The admission webhook's (webhook.enabled).
	"ValidatingWebhookConfiguration": true, "Secret": true,
}

// checkKinds fails on kinds the chart is not meant to render or outside the
// release namespace, and decodes every built-in kind strictly into its Go
// type. Certificate and ServiceMonitor are checked field by field in
// checkTLS and checkMonitoring.
func checkKinds(t *testing.T, m manifest) {
	t.Helper()
	for _, obj := range m {
		if !renderedKinds[obj.GetKind()] {
			t.Errorf("unexpected %s %s", obj.GetKind(), obj.GetName())
		}
		if ns := obj.GetNamespace(); ns != "" && ns != namespace {
			t.Errorf("%s %s is in namespace %q, not the release namespace", obj.GetKind(), obj.GetName(), ns)
		}
		typed, err := clientgoscheme.Scheme.New(obj.GroupVersionKind())
		if runtime.IsNotRegisteredError(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		decodeInto(t, obj, typed)
	}
}

func decodeAll[T any](t *testing.T, m manifest, kind string) []*T {
	t.Helper()
	var out []*T
	for _, obj := range m.all(kind) {
		out = append(out, decode[T](t, obj))
	}
	return out
}

// container returns the named container of a Pod spec, or nil.
func container(spec *corev1.PodSpec, name string) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	return nil
}

// flags turns "--name=value" arguments into a map; a bare "--name" maps to "".
func flags(c *corev1.Container) map[string]string {
	out := map[string]string{}
	for _, arg := range c.Args {
		name, value, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		out[name] = value
	}
	return out
}

// checkDeployments checks the layout: which Deployment runs which binary,
// with how many replicas, and the flags that tie the two binaries together.
func checkDeployments(t *testing.T, tc renderCase, deployments []*appsv1.Deployment) {
	t.Helper()
	want := map[string]int32{"signet": tc.managerReplicas}
	if tc.tokenServerReplicas > 0 {
		want["signet-token-server"] = tc.tokenServerReplicas
	}
	got := map[string]int32{}
	for _, d := range deployments {
		got[d.Name] = *d.Spec.Replicas
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("Deployment %s: the selector does not match its own Pods (%v)", d.Name, err)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Deployments and replicas: got %v, want %v", got, want)
	}

	tokenServers := 0
	for _, d := range deployments {
		spec := &d.Spec.Template.Spec
		mgr, ts := container(spec, "manager"), container(spec, "token-server")
		if d.Name == "signet" && mgr == nil {
			t.Fatalf("Deployment %s has no manager container", d.Name)
		}
		if d.Name == "signet-token-server" && (mgr != nil || ts == nil) {
			t.Fatalf("the standalone token server Deployment must run the token server alone")
		}
		if mgr != nil {
			f := flags(mgr)
			if _, ok := f["leader-elect"]; !ok {
				t.Errorf("the manager runs without --leader-elect")
			}
			for flag, value := range map[string]string{
				"signet-namespace":          "$(POD_NAMESPACE)",
				"issuer":                    tc.issuer,
				"metrics-bind-address":      ":8080",
				"health-probe-bind-address": ":8081",
				"signing-algorithm":         "ES256",
			} {
				if f[flag] != value {
					t.Errorf("manager --%s=%q, want %q", flag, f[flag], value)
				}
			}
			checkPodNamespaceEnv(t, mgr)
		}
		if ts != nil {
			tokenServers++
			f := flags(ts)
			for flag, value := range map[string]string{
				"namespace":     "$(POD_NAMESPACE)",
				"issuer":        tc.issuer,
				"listen":        ":8443",
				"probe-listen":  ":8082",
				"tls-cert-file": "/etc/signet/tls/tls.crt",
				"tls-key-file":  "/etc/signet/tls/tls.key",
			} {
				if f[flag] != value {
					t.Errorf("token server --%s=%q, want %q", flag, f[flag], value)
				}
			}
			checkPodNamespaceEnv(t, ts)
		}
		checkIdentity(t, d)
	}
	if tokenServers != 1 {
		t.Errorf("%d Deployments run the token server, want exactly one", tokenServers)
	}
}

func checkPodNamespaceEnv(t *testing.T, c *corev1.Container) {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace" {
			return
		}
	}
	t.Errorf("container %s: POD_NAMESPACE does not come from metadata.namespace", c.Name)
}

// restrictedViolations lists what in a Pod spec breaks the "restricted" Pod
// Security Standard (https://kubernetes.io/docs/concepts/security/pod-security-standards/),
// plus Signet's own rule of a read-only root filesystem.
func restrictedViolations(spec *corev1.PodSpec) []string {
	var v []string
	if spec.HostNetwork || spec.HostPID || spec.HostIPC {
		v = append(v, "host namespaces")
	}
	for _, vol := range spec.Volumes {
		s := vol.VolumeSource
		if s.ConfigMap == nil && s.CSI == nil && s.DownwardAPI == nil && s.EmptyDir == nil &&
			s.Ephemeral == nil && s.PersistentVolumeClaim == nil && s.Projected == nil && s.Secret == nil {
			v = append(v, "volume "+vol.Name+" has a type restricted does not allow")
		}
	}
	pod := spec.SecurityContext
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	for _, c := range slices.Concat(spec.InitContainers, spec.Containers) {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		bad := func(what string) { v = append(v, fmt.Sprintf("container %s: %s", c.Name, what)) }
		runAsNonRoot := pod.RunAsNonRoot
		if sc.RunAsNonRoot != nil {
			runAsNonRoot = sc.RunAsNonRoot
		}
		if runAsNonRoot == nil || !*runAsNonRoot {
			bad("runAsNonRoot is not true")
		}
		runAsUser := pod.RunAsUser
		if sc.RunAsUser != nil {
			runAsUser = sc.RunAsUser
		}
		if runAsUser != nil && *runAsUser == 0 {
			bad("runs as root")
		}
		seccomp := pod.SeccompProfile
		if sc.SeccompProfile != nil {
			seccomp = sc.SeccompProfile
		}
		if seccomp == nil || (seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault && seccomp.Type != corev1.SeccompProfileTypeLocalhost) {
			bad("seccomp profile is not RuntimeDefault or Localhost")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			bad("allowPrivilegeEscalation is not false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			bad("privileged")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			bad("readOnlyRootFilesystem is not true")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			bad("capabilities do not drop ALL")
		} else if slices.ContainsFunc(sc.Capabilities.Add, func(c corev1.Capability) bool { return c != "NET_BIND_SERVICE" }) {
			bad("adds capabilities other than NET_BIND_SERVICE")
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				bad("uses a host port")
			}
		}
	}
	return v
}

// TestRestrictedCheckCatchesViolations shows that restrictedViolations,
// which TestRender relies on, fails a chart whose values weaken the
// security contexts.
func TestRestrictedCheckCatchesViolations(t *testing.T) {
	for name, values := range map[string]map[string]any{
		"writable root filesystem": {"containerSecurityContext": map[string]any{"readOnlyRootFilesystem": false}},
		"privilege escalation":     {"containerSecurityContext": map[string]any{"allowPrivilegeEscalation": true}},
		"capabilities kept":        {"containerSecurityContext": map[string]any{"capabilities": nil}},
		"root":                     {"podSecurityContext": map[string]any{"runAsUser": 0}},
		"unconfined seccomp":       {"podSecurityContext": map[string]any{"seccompProfile": map[string]any{"type": "Unconfined"}}, "containerSecurityContext": map[string]any{"seccompProfile": nil}},
		"runAsNonRoot unset":       {"podSecurityContext": map[string]any{"runAsNonRoot": nil}, "containerSecurityContext": map[string]any{"runAsNonRoot": nil}},
	} {
		t.Run(name, func(t *testing.T) {
			for _, d := range decodeAll[appsv1.Deployment](t, render(t, values), "Deployment") {
				if len(restrictedViolations(&d.Spec.Template.Spec)) == 0 {
					t.Errorf("Deployment %s passes the restricted check with %v", d.Name, values)
				}
			}
		})
	}
}

// roleKey names a Role or ClusterRole as a binding refers to it.
const (
	saTokenDir       = "/var/run/secrets/kubernetes.io/serviceaccount"
	sidecarTokenDir  = "/var/run/secrets/signet/token-server"
	sidecarTokenFile = sidecarTokenDir + "/token"
)

// checkIdentity checks SECURITY.md 31: the token server authenticates as its
// own ServiceAccount in every layout, and the manager's token never reaches
// its container. A manager Pod mounts no token automatically; the manager
// container mounts its own explicitly. A sidecar reads the token server's
// token from a volume the manager writes and no other container mounts.
func checkIdentity(t *testing.T, d *appsv1.Deployment) {
	t.Helper()
	spec := &d.Spec.Template.Spec
	mgr, ts := container(spec, "manager"), container(spec, "token-server")
	mounts := func(c *corev1.Container) map[string]corev1.VolumeMount {
		out := map[string]corev1.VolumeMount{}
		for _, m := range c.VolumeMounts {
			out[m.MountPath] = m
		}
		return out
	}
	if mgr == nil {
		// The standalone token server runs as its own account.
		if spec.ServiceAccountName != "signet-token-server" || spec.AutomountServiceAccountToken == nil || !*spec.AutomountServiceAccountToken {
			t.Errorf("Deployment %s: the standalone token server must run as signet-token-server with its token mounted", d.Name)
		}
		return
	}
	if spec.ServiceAccountName != "signet" {
		t.Errorf("Deployment %s runs as %q, want the manager's account", d.Name, spec.ServiceAccountName)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("Deployment %s: the manager's Pod must set automountServiceAccountToken: false", d.Name)
	}
	if m, ok := mounts(mgr)[saTokenDir]; !ok || m.Name != "kube-api-access" || !m.ReadOnly {
		t.Errorf("the manager container must mount its token (kube-api-access) read-only at %s: %+v", saTokenDir, m)
	}
	var projected *corev1.ProjectedVolumeSource
	for _, v := range spec.Volumes {
		if v.Name == "kube-api-access" {
			projected = v.Projected
		}
	}
	if projected == nil || len(projected.Sources) == 0 || projected.Sources[0].ServiceAccountToken == nil {
		t.Errorf("Deployment %s: kube-api-access must be a projected ServiceAccount token", d.Name)
	}
	f := flags(mgr)
	if ts == nil {
		if _, ok := f["token-server-service-account"]; ok {
			t.Errorf("the manager writes a token server token though no sidecar reads it")
		}
		return
	}
	if f["token-server-service-account"] != "signet-token-server" || f["token-server-token-file"] != sidecarTokenFile {
		t.Errorf("manager token server flags: %v", f)
	}
	if got := flags(ts)["kube-token-file"]; got != sidecarTokenFile {
		t.Errorf("token server --kube-token-file=%q, want %q", got, sidecarTokenFile)
	}
	tsMounts := mounts(ts)
	if _, ok := tsMounts[saTokenDir]; ok {
		t.Errorf("the token server container mounts %s", saTokenDir)
	}
	for path, m := range tsMounts {
		if m.Name == "kube-api-access" {
			t.Errorf("the token server container mounts the manager's token at %s", path)
		}
	}
	if m, ok := tsMounts[sidecarTokenDir]; !ok || m.Name != "token-server-token" || !m.ReadOnly {
		t.Errorf("the token server must mount its token volume read-only at %s: %+v", sidecarTokenDir, m)
	}
	if m, ok := mounts(mgr)[sidecarTokenDir]; !ok || m.Name != "token-server-token" || m.ReadOnly {
		t.Errorf("the manager must mount the token server's token volume writable at %s: %+v", sidecarTokenDir, m)
	}
}

type roleKey struct{ kind, name string }

// checkRBAC checks each Pod's ServiceAccount gets exactly the roles of the
// binaries it runs, and that those roles hold exactly the rules of the
// kustomize RBAC in config/rbac; for the manager, the rules generated from
// the kubebuilder markers (cluster-wide and namespaced) are given.
func checkRBAC(t *testing.T, m manifest, deployments []*appsv1.Deployment, managerCluster, managerNamespaced []rbacv1.PolicyRule) {
	t.Helper()
	wantRules := map[roleKey][]rbacv1.PolicyRule{
		{"ClusterRole", "signet-manager"}:  managerCluster,
		{"Role", "signet-leader-election"}: configRules(t, "leader_election_role.yaml"),
		{"Role", "signet-token-server"}:    configRules(t, "token_server_role.yaml"),
		// The token server's one cluster-wide right: creating TokenReviews.
		{"ClusterRole", "signet-token-server-tokenreview"}: configRules(t, "token_server_tokenreview_role.yaml"),
	}
	managerRoles := []roleKey{{"ClusterRole", "signet-manager"}, {"Role", "signet-leader-election"}}
	if len(managerNamespaced) > 0 {
		wantRules[roleKey{"Role", "signet-manager"}] = managerNamespaced
		managerRoles = append(managerRoles, roleKey{"Role", "signet-manager"})
	}
	// A sidecar token server gets its token from the manager, which may
	// request tokens of the token server's account and no other.
	if sidecar(deployments) {
		wantRules[roleKey{"Role", "signet-token-requester"}] = configRules(t, "token_requester_role.yaml")
		managerRoles = append(managerRoles, roleKey{"Role", "signet-token-requester"})
	}
	// The admission webhook's certificate: one Secret and one
	// configuration, as config/webhook grants it.
	if m.get("ValidatingWebhookConfiguration", "signet-validating-webhook") != nil {
		role, clusterRole := webhookRules(t)
		wantRules[roleKey{"Role", "signet-webhook-cert"}] = role
		wantRules[roleKey{"ClusterRole", "signet-webhook-configuration"}] = clusterRole
		managerRoles = append(managerRoles, roleKey{"Role", "signet-webhook-cert"}, roleKey{"ClusterRole", "signet-webhook-configuration"})
	}
	if m.get("ClusterRole", "signet-metrics-reader") != nil {
		// Checked with the ServiceMonitor it comes with (checkMonitoring).
		wantRules[roleKey{"ClusterRole", "signet-metrics-reader"}] = decode[rbacv1.ClusterRole](t, m.get("ClusterRole", "signet-metrics-reader")).Rules
	}
	for _, r := range testutil.ReadObjects(t, filepath.Join(root, "config", "rbac", "tenant_roles.yaml")) {
		wantRules[roleKey{"ClusterRole", "signet-" + r.GetName()}] = decode[rbacv1.ClusterRole](t, r).Rules
	}
	gotRules := map[roleKey][]rbacv1.PolicyRule{}
	for _, r := range decodeAll[rbacv1.ClusterRole](t, m, "ClusterRole") {
		gotRules[roleKey{"ClusterRole", r.Name}] = r.Rules
		// The tenant roles aggregate into the built-in ones and never grant.
		if strings.HasPrefix(r.Name, "signet-") && !slices.Contains([]string{"signet-manager", "signet-metrics-reader", "signet-token-server-tokenreview", "signet-webhook-configuration"}, r.Name) {
			aggregate := "rbac.authorization.k8s.io/aggregate-to-" + strings.TrimPrefix(r.Name, "signet-")
			if r.Labels[aggregate] != "true" {
				t.Errorf("ClusterRole %s lacks the label %s", r.Name, aggregate)
			}
			for _, rule := range r.Rules {
				if slices.Contains(rule.Verbs, "grant") || slices.Contains(rule.Verbs, "*") {
					t.Errorf("ClusterRole %s may grant: %+v", r.Name, rule)
				}
			}
		}
	}
	for _, r := range decodeAll[rbacv1.Role](t, m, "Role") {
		gotRules[roleKey{"Role", r.Name}] = r.Rules
	}
	if len(gotRules) != len(wantRules) {
		t.Errorf("roles: got %v, want %v", slices.Collect(maps.Keys(gotRules)), slices.Collect(maps.Keys(wantRules)))
	}
	for key, want := range wantRules {
		got, ok := gotRules[key]
		if !ok {
			t.Errorf("%s %s is missing", key.kind, key.name)
			continue
		}
		if !reflect.DeepEqual(normalRules(got), normalRules(want)) {
			t.Errorf("%s %s rules:\n got %+v\nwant %+v", key.kind, key.name, got, want)
		}
	}
	// SECURITY.md 26: the token server reads Secrets only, in its own
	// namespace; cluster-wide it may only create TokenReviews.
	for _, rule := range gotRules[roleKey{"Role", "signet-token-server"}] {
		if slices.Contains(rule.Resources, "secrets") && slices.ContainsFunc(rule.Verbs, func(v string) bool { return v != "get" && v != "list" && v != "watch" }) {
			t.Errorf("the token server may write Secrets: %+v", rule)
		}
	}

	// Each binary's identity holds exactly its own roles, in every layout:
	// the token server's account never gets the manager's, nor the reverse.
	slices.SortFunc(managerRoles, compareRoleKeys)
	want := map[string][]roleKey{
		"signet":              managerRoles,
		"signet-token-server": {{"ClusterRole", "signet-token-server-tokenreview"}, {"Role", "signet-token-server"}},
	}
	bound := boundRoles(t, m)
	for _, roles := range bound {
		slices.SortFunc(roles, compareRoleKeys)
	}
	if !reflect.DeepEqual(bound, want) {
		t.Errorf("ServiceAccounts are bound to\n got %v\nwant %v", bound, want)
	}
	for sa := range want {
		if m.get("ServiceAccount", sa) == nil {
			t.Errorf("ServiceAccount %q is not rendered", sa)
		}
	}
	if n := len(m.all("ServiceAccount")); n != len(want) {
		t.Errorf("%d ServiceAccounts, want %d", n, len(want))
	}
}

// sidecar reports whether the token server runs in the manager's Pod.
func sidecar(deployments []*appsv1.Deployment) bool {
	for _, d := range deployments {
		spec := &d.Spec.Template.Spec
		if container(spec, "manager") != nil && container(spec, "token-server") != nil {
			return true
		}
	}
	return false
}

// boundRoles maps each ServiceAccount in the release namespace to the roles
// bound to it.
func boundRoles(t *testing.T, m manifest) map[string][]roleKey {
	t.Helper()
	out := map[string][]roleKey{}
	add := func(ref rbacv1.RoleRef, subjects []rbacv1.Subject) {
		for _, s := range subjects {
			if s.Kind != "ServiceAccount" || s.Namespace != namespace {
				t.Errorf("binding to %s %s/%s, outside the release's ServiceAccounts", s.Kind, s.Namespace, s.Name)
				continue
			}
			out[s.Name] = append(out[s.Name], roleKey{ref.Kind, ref.Name})
		}
	}
	for _, b := range decodeAll[rbacv1.ClusterRoleBinding](t, m, "ClusterRoleBinding") {
		add(b.RoleRef, b.Subjects)
	}
	for _, b := range decodeAll[rbacv1.RoleBinding](t, m, "RoleBinding") {
		add(b.RoleRef, b.Subjects)
	}
	return out
}

func compareRoleKeys(a, b roleKey) int {
	return strings.Compare(a.kind+"/"+a.name, b.kind+"/"+b.name)
}

// normalRules makes nil and empty lists compare equal.
func normalRules(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
	if len(rules) == 0 {
		return nil
	}
	return rules
}

// configRules returns the rules of the single Role in a config/rbac file
// (which may hold its RoleBinding too).
func configRules(t *testing.T, file string) []rbacv1.PolicyRule {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", file))
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseManifest(data)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	roles := append(m.all("Role"), m.all("ClusterRole")...)
	if len(roles) != 1 {
		t.Fatalf("%s: want one Role or ClusterRole, got %d", file, len(roles))
	}
	return decode[rbacv1.Role](t, roles[0]).Rules
}

// generatedManagerRules returns the rules controller-gen generated from the
// kubebuilder markers into config/rbac/role.yaml: those of the ClusterRole
// manager-role, and those of its namespaced Roles together. Both are empty
// while role.yaml does not exist (no markers yet).
func generatedManagerRules(t *testing.T) (cluster, namespaced []rbacv1.PolicyRule) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "config", "rbac", "role.yaml"))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return rulesByKind(t, data)
}

// rulesByKind collects the rules of the ClusterRole manager-role and of the
// Roles in a controller-gen RBAC file.
func rulesByKind(t *testing.T, data []byte) (cluster, namespaced []rbacv1.PolicyRule) {
	t.Helper()
	m, err := parseManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range m {
		switch obj.GetKind() {
		case "ClusterRole":
			if obj.GetName() != "manager-role" {
				t.Fatalf("unexpected ClusterRole %s in role.yaml", obj.GetName())
			}
			cluster = append(cluster, decode[rbacv1.ClusterRole](t, obj).Rules...)
		case "Role":
			namespaced = append(namespaced, decode[rbacv1.Role](t, obj).Rules...)
		default:
			t.Fatalf("unexpected %s in role.yaml", obj.GetKind())
		}
	}
	return cluster, namespaced
}

// podsOf returns the Deployments whose Pods a selector selects.
func podsOf(t *testing.T, sel labels.Selector, deployments []*appsv1.Deployment) []*appsv1.Deployment {
	t.Helper()
	var out []*appsv1.Deployment
	for _, d := range deployments {
		if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			out = append(out, d)
		}
	}
	return out
}

// checkDisruptionBudgets checks that each Deployment has a budget if and
// only if it has more than one replica.
func checkDisruptionBudgets(t *testing.T, m manifest, deployments []*appsv1.Deployment) {
	t.Helper()
	covered := map[string]int{}
	for _, pdb := range decodeAll[policyv1.PodDisruptionBudget](t, m, "PodDisruptionBudget") {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err != nil {
			t.Fatal(err)
		}
		matched := podsOf(t, sel, deployments)
		if len(matched) != 1 {
			t.Errorf("PodDisruptionBudget %s selects %d Deployments' Pods, want 1", pdb.Name, len(matched))
		}
		for _, d := range matched {
			covered[d.Name]++
		}
		if pdb.Spec.MinAvailable == nil && pdb.Spec.MaxUnavailable == nil {
			t.Errorf("PodDisruptionBudget %s sets neither minAvailable nor maxUnavailable", pdb.Name)
		}
	}
	for _, d := range deployments {
		want := 0
		if *d.Spec.Replicas > 1 {
			want = 1
		}
		if covered[d.Name] != want {
			t.Errorf("Deployment %s with %d replicas has %d PodDisruptionBudgets, want %d", d.Name, *d.Spec.Replicas, covered[d.Name], want)
		}
	}
}

// checkService checks the token endpoint's Service reaches the token
// server's https port, and only the Pods that run the token server.
func checkService(t *testing.T, m manifest, deployments []*appsv1.Deployment) {
	t.Helper()
	obj := m.get("Service", "signet-token-server")
	if obj == nil {
		t.Fatal("the token endpoint's Service signet-token-server is missing")
	}
	svc := decode[corev1.Service](t, obj)
	matched := podsOf(t, labels.SelectorFromSet(svc.Spec.Selector), deployments)
	if len(matched) != 1 || container(&matched[0].Spec.Template.Spec, "token-server") == nil {
		t.Fatalf("Service %s selects %d Deployments' Pods, want the one running the token server", svc.Name, len(matched))
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.StrVal != "https" {
		t.Fatalf("Service %s ports %+v, want one port to the named port https", svc.Name, svc.Spec.Ports)
	}
	if !hasPort(container(&matched[0].Spec.Template.Spec, "token-server"), "https", 8443) {
		t.Errorf("the token server has no port https (8443)")
	}
}

func hasPort(c *corev1.Container, name string, number int32) bool {
	return c != nil && slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == name && p.ContainerPort == number
	})
}

// checkTLS checks the token server mounts the expected Secret, and that the
// Certificate (when cert-manager is on) writes that Secret for the Service.
func checkTLS(t *testing.T, tc renderCase, m manifest, deployments []*appsv1.Deployment) {
	t.Helper()
	for _, d := range deployments {
		spec := &d.Spec.Template.Spec
		ts := container(spec, "token-server")
		if ts == nil {
			// The manager alone mounts only its own token (checkIdentity)
			// and the webhook's certificate (checkWebhook).
			if slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name != "kube-api-access" && v.Name != "webhook-cert" }) {
				t.Errorf("Deployment %s mounts volumes without a token server: %+v", d.Name, spec.Volumes)
			}
			continue
		}
		i := slices.IndexFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == "tls" })
		if i < 0 || spec.Volumes[i].Secret == nil || spec.Volumes[i].Secret.SecretName != tc.tlsSecret {
			t.Errorf("Deployment %s: volume tls is not the Secret %s: %+v", d.Name, tc.tlsSecret, spec.Volumes)
		}
		if !slices.ContainsFunc(ts.VolumeMounts, func(v corev1.VolumeMount) bool {
			return v.Name == "tls" && v.MountPath == "/etc/signet/tls" && v.ReadOnly
		}) {
			t.Errorf("the token server does not mount volume tls read-only at /etc/signet/tls: %+v", ts.VolumeMounts)
		}
	}
	certs := m.all("Certificate")
	if !tc.certificate {
		if len(certs) != 0 {
			t.Errorf("a Certificate is rendered without tls.certManager.enabled")
		}
		return
	}
	if len(certs) != 1 {
		t.Fatalf("%d Certificates, want 1", len(certs))
	}
	cert := certs[0]
	if cert.GetAPIVersion() != "cert-manager.io/v1" {
		t.Errorf("Certificate apiVersion %s", cert.GetAPIVersion())
	}
	if got := nestedString(t, cert, "spec", "secretName"); got != tc.tlsSecret {
		t.Errorf("Certificate secretName %q, want %q", got, tc.tlsSecret)
	}
	if got := nestedString(t, cert, "spec", "issuerRef", "name"); got != "signet-ca" {
		t.Errorf("Certificate issuerRef.name %q", got)
	}
	dnsNames, _, _ := unstructured.NestedStringSlice(cert.Object, "spec", "dnsNames")
	for _, name := range []string{"signet-token-server.signet-system.svc", "signet-token-server.signet-system.svc.cluster.local"} {
		if !slices.Contains(dnsNames, name) {
			t.Errorf("Certificate dnsNames %v lack %s", dnsNames, name)
		}
	}
}

func nestedString(t *testing.T, obj *unstructured.Unstructured, path ...string) string {
	t.Helper()
	s, _, err := unstructured.NestedString(obj.Object, path...)
	if err != nil {
		t.Errorf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
	return s
}

// checkMonitoring checks the ServiceMonitor selects a metrics Service whose
// ports reach the manager's and the token server's metrics ports.
func checkMonitoring(t *testing.T, tc renderCase, m manifest, deployments []*appsv1.Deployment) {
	t.Helper()
	monitors := m.all("ServiceMonitor")
	metricsSvc := m.get("Service", "signet-metrics")
	if !tc.serviceMonitor {
		if len(monitors) != 0 || metricsSvc != nil {
			t.Errorf("a ServiceMonitor or metrics Service is rendered without prometheus.serviceMonitor.enabled")
		}
		return
	}
	if len(monitors) != 1 || metricsSvc == nil {
		t.Fatalf("want one ServiceMonitor and the metrics Service, got %d and %v", len(monitors), metricsSvc != nil)
	}
	mon := monitors[0]
	if mon.GetAPIVersion() != "monitoring.coreos.com/v1" {
		t.Errorf("ServiceMonitor apiVersion %s", mon.GetAPIVersion())
	}
	svc := decode[corev1.Service](t, metricsSvc)
	matchLabels, _, _ := unstructured.NestedStringMap(mon.Object, "spec", "selector", "matchLabels")
	if !labels.SelectorFromSet(matchLabels).Matches(labels.Set(svc.Labels)) || m.get("Service", "signet-token-server") != nil &&
		labels.SelectorFromSet(matchLabels).Matches(labels.Set(m.get("Service", "signet-token-server").GetLabels())) {
		t.Errorf("the ServiceMonitor must select the metrics Service alone: %v", matchLabels)
	}
	endpoints, _, _ := unstructured.NestedSlice(mon.Object, "spec", "endpoints")
	var scraped []string
	for _, e := range endpoints {
		scraped = append(scraped, e.(map[string]any)["port"].(string))
	}
	slices.Sort(scraped)
	if !reflect.DeepEqual(scraped, []string{"metrics", "ts-metrics"}) {
		t.Errorf("ServiceMonitor scrapes ports %v", scraped)
	}
	// The manager's metrics need HTTPS and a token the API server
	// authorises for /metrics, which the metrics reader role grants.
	for _, e := range endpoints {
		e := e.(map[string]any)
		if e["port"] == "metrics" && (e["scheme"] != "https" || e["bearerTokenFile"] == nil) {
			t.Errorf("the ServiceMonitor scrapes the manager without HTTPS and a token: %v", e)
		}
	}
	reader := m.get("ClusterRole", "signet-metrics-reader")
	if reader == nil {
		t.Fatal("no metrics reader ClusterRole next to the ServiceMonitor")
	}
	if rules := decode[rbacv1.ClusterRole](t, reader).Rules; len(rules) != 1 || !reflect.DeepEqual(rules[0].NonResourceURLs, []string{"/metrics"}) || !reflect.DeepEqual(rules[0].Verbs, []string{"get"}) {
		t.Errorf("metrics reader rules: %+v", rules)
	}
	// Each Service port must reach a container port of that name and number
	// in the Pods it selects.
	pods := podsOf(t, labels.SelectorFromSet(svc.Spec.Selector), deployments)
	want := map[string]string{"metrics": "manager", "ts-metrics": "token-server"}
	for _, p := range svc.Spec.Ports {
		found := false
		for _, d := range pods {
			found = found || hasPort(container(&d.Spec.Template.Spec, want[p.Name]), p.TargetPort.StrVal, p.Port)
		}
		if !found {
			t.Errorf("metrics Service port %s (%d) reaches no %s container port", p.Name, p.Port, want[p.Name])
		}
	}
}

// checkNetworkPolicy checks the policy covers every Signet Pod, opens the
// token port to the configured peers and metrics to the monitoring
// namespaces, and lets the Pods reach the API server.
func checkNetworkPolicy(t *testing.T, tc renderCase, m manifest, deployments []*appsv1.Deployment) {
	t.Helper()
	policies := decodeAll[networkingv1.NetworkPolicy](t, m, "NetworkPolicy")
	if !tc.networkPolicy {
		if len(policies) != 0 {
			t.Errorf("a NetworkPolicy is rendered without networkPolicy.enabled")
		}
		return
	}
	if len(policies) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(policies))
	}
	np := policies[0]
	sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if got := podsOf(t, sel, deployments); len(got) != len(deployments) {
		t.Errorf("the NetworkPolicy covers %d of %d Deployments", len(got), len(deployments))
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("policyTypes %v", np.Spec.PolicyTypes)
	}
	ports := func(ps []networkingv1.NetworkPolicyPort) []int32 {
		var out []int32
		for _, p := range ps {
			out = append(out, p.Port.IntVal)
		}
		return out
	}
	var tokenRule, metricsRule, webhookRule *networkingv1.NetworkPolicyIngressRule
	for i, r := range np.Spec.Ingress {
		switch {
		case slices.Equal(ports(r.Ports), []int32{9443}):
			webhookRule = &np.Spec.Ingress[i]
		case slices.Equal(ports(r.Ports), []int32{8443}):
			tokenRule = &np.Spec.Ingress[i]
		case slices.Equal(ports(r.Ports), []int32{8080, 8082}):
			metricsRule = &np.Spec.Ingress[i]
		default:
			t.Errorf("unexpected ingress rule %+v", r)
		}
	}
	if tokenRule == nil || metricsRule == nil {
		t.Fatalf("want an ingress rule for the token port and one for metrics: %+v", np.Spec.Ingress)
	}
	// The API server calls the webhook from an address the chart does not
	// know: its port is open to any peer, and only with the webhook.
	if tc.noWebhook != (webhookRule == nil) || (webhookRule != nil && len(webhookRule.From) != 0) {
		t.Errorf("webhook ingress rule %+v with webhook.enabled=%t, want one open to any peer exactly with the webhook", webhookRule, !tc.noWebhook)
	}
	tokenFrom, _ := tc.values["networkPolicy"].(map[string]any)["tokenFrom"].([]any)
	if len(tokenRule.From) != len(tokenFrom) {
		t.Errorf("the token port is open to %d peers, want %d (none: anywhere)", len(tokenRule.From), len(tokenFrom))
	}
	if len(metricsRule.From) != 1 || metricsRule.From[0].NamespaceSelector == nil {
		t.Errorf("metrics are open to %+v, want a namespace selector", metricsRule.From)
	}
	if len(np.Spec.Egress) == 0 || !slices.Contains(ports(np.Spec.Egress[0].Ports), 443) {
		t.Errorf("egress %+v does not allow the API server", np.Spec.Egress)
	}
}
