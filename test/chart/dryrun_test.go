package chart_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/signet-iam/signet/internal/testenv"
)

// notInCluster are kinds whose CRDs (cert-manager's, the Prometheus
// Operator's) the local API server does not have. The dry run leaves them
// out; TestRender checks them field by field.
var notInCluster = map[string]bool{"Certificate": true, "ServiceMonitor": true, "PrometheusRule": true}

// TestServerSideDryRun applies what the chart renders for every value set
// of TestRender, CRDs included, to the real API server with kubectl
// --dry-run=server, in a namespace that enforces the "restricted" Pod
// Security Standard. Deployments are only warned about by Pod Security
// admission, so a Pod built from each Deployment's template goes along to be
// admitted or refused. It also runs helm install --dry-run=server, which
// renders NOTES.txt, and dry-runs the example NOTES.txt gives.
func TestServerSideDryRun(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stopping the control plane: %v", err)
		}
	})
	kubectl := newKubectl(t, env)
	kubectl.apply(t, "", false, []byte(`
apiVersion: v1
kind: Namespace
metadata:
  name: `+namespace+`
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
---
apiVersion: v1
kind: Namespace
metadata:
  name: demo
`))

	for name, tc := range renderCases {
		t.Run(name, func(t *testing.T) {
			m := render(t, tc.values, "--include-crds")
			var stream bytes.Buffer
			var skipped []string
			for _, obj := range m {
				if notInCluster[obj.GetKind()] {
					skipped = append(skipped, obj.GetKind()+"/"+obj.GetName())
					continue
				}
				writeDoc(t, &stream, obj.Object)
			}
			for _, obj := range m.all("Deployment") {
				d := decode[appsv1.Deployment](t, obj)
				writeDoc(t, &stream, &corev1.Pod{
					TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
					ObjectMeta: metav1.ObjectMeta{Name: d.Name + "-pod", Namespace: namespace, Labels: d.Spec.Template.Labels},
					Spec:       d.Spec.Template.Spec,
				})
			}
			if len(skipped) > 0 {
				t.Logf("left out of the dry run (no CRD in the local API server): %s", strings.Join(skipped, ", "))
			}
			out := kubectl.apply(t, "", true, stream.Bytes())
			if got, want := strings.Count(out, "(server dry run)"), len(m)-len(skipped)+len(m.all("Deployment")); got != want {
				t.Errorf("kubectl reported %d objects, want %d:\n%s", got, want, out)
			}
		})
	}

	t.Run("helm install --dry-run=server prints NOTES.txt", func(t *testing.T) {
		out, err := runHelm("install", release, chartDir, "--namespace", namespace, "--kubeconfig", kubectl.kubeconfig, "--dry-run=server")
		if err != nil {
			t.Fatal(err)
		}
		_, notes, ok := strings.Cut(string(out), "\nNOTES:\n")
		if !ok {
			t.Fatalf("no NOTES in:\n%s", out)
		}
		for _, want := range []string{
			"Token endpoint:  https://signet-token-server.signet-system.svc/oauth2/token",
			"kubectl -n signet-system create secret tls signet-token-server-tls",
			"-d grant_type=client_credentials",
			"kubectl -n signet-system port-forward service/signet-token-server 8443:443",
		} {
			if !strings.Contains(notes, want) {
				t.Errorf("NOTES lack %q:\n%s", want, notes)
			}
		}
	})

	t.Run("the example in NOTES.txt", func(t *testing.T) {
		example := notesExample(t)
		out := kubectl.apply(t, "demo", true, example)
		for _, want := range []string{"serviceaccount.iam.signet.dev/reporter", "accessrule.iam.signet.dev/reporter-read", "clientcredential.iam.signet.dev/reporter"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl output lacks %s:\n%s", want, out)
			}
		}
	})
}

// kubectl runs bin/k8s/kubectl as an administrator of the local API server.
type kubectl struct{ path, kubeconfig string }

func newKubectl(t *testing.T, env *testenv.Environment) kubectl {
	t.Helper()
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	admin, err := env.AddUser(envtest.User{Name: "chart-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	config, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, config, 0o600); err != nil {
		t.Fatal(err)
	}
	return kubectl{path: filepath.Join(assets, "kubectl"), kubeconfig: path}
}

// apply runs kubectl apply on manifests, as a server-side dry run if dryRun,
// and fails the test if kubectl fails or Pod Security admission warns.
func (k kubectl) apply(t *testing.T, ns string, dryRun bool, manifests []byte) string {
	t.Helper()
	// Its own discovery cache: an earlier API server may have used this port.
	args := []string{"--kubeconfig", k.kubeconfig, "--cache-dir", filepath.Join(t.TempDir(), "cache"), "apply", "-f", "-"}
	if ns != "" {
		args = append(args, "--namespace", ns)
	}
	if dryRun {
		args = append(args, "--dry-run=server")
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(k.path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(manifests), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	if strings.Contains(stderr.String(), "PodSecurity") {
		t.Errorf("Pod Security admission warned:\n%s", stderr.String())
	}
	return stdout.String()
}

func writeDoc(t *testing.T, w *bytes.Buffer, obj any) {
	t.Helper()
	data, err := yaml.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "---\n%s", data)
}

// notesExample extracts the manifests NOTES.txt tells users to apply: the
// here-document between "<<'EOF'" and "EOF", indented by two spaces.
func notesExample(t *testing.T) []byte {
	t.Helper()
	notes := string(readFile(t, filepath.Join(chartDir, "templates", "NOTES.txt")))
	_, rest, ok := strings.Cut(notes, "<<'EOF'\n")
	if !ok {
		t.Fatal("NOTES.txt has no here-document")
	}
	doc, _, ok := strings.Cut(rest, "\n  EOF\n")
	if !ok {
		t.Fatal("NOTES.txt: the here-document does not end")
	}
	var out strings.Builder
	for line := range strings.Lines(doc + "\n") {
		out.WriteString(strings.TrimPrefix(line, "  "))
	}
	return []byte(out.String())
}
