package chart_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

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

	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	newKubectl(t, env).apply(t, "", false, out)
}
