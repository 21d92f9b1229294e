//go:build e2e

// Package e2e runs Signet as users do: the real manager and token-server
// binaries against the local control plane, the samples applied with the
// real kubectl, and tokens fetched and verified with stock OAuth2 and OIDC
// clients. Each seed scenario is walked end to end. Run with "make e2e".
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-iam/signet/internal/devenv"
	"github.com/signet-iam/signet/internal/testenv"
	"github.com/signet-iam/signet/internal/testutil"
)

var (
	signet *devenv.Environment
	root   string
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	var err error
	if root, err = testenv.ModuleRoot(); err != nil {
		return 1, err
	}
	signet, err = devenv.StartBuilt(context.Background(), "e2e", devenv.Options{
		Listen:         "127.0.0.1:0",
		ManagerMetrics: "127.0.0.1:0",
		// Three replicas, so that revocation is checked on every replica
		// (SECURITY.md 18) and Propagated counts them; the other tests use
		// the first. A short report timeout lets the propagation test see
		// a paused replica drop out of the set quickly.
		TokenServers:    3,
		TokenServerArgs: []string{"--report-timeout=10s"},
	})
	if err != nil {
		return 1, err
	}
	defer signet.Stop()
	return m.Run(), nil
}

// kubectl runs the real kubectl from bin/k8s as the cluster administrator.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	// Its own discovery cache: an earlier API server may have used this port.
	cacheDir := filepath.Join(filepath.Dir(signet.Kubeconfig), "kubectl-cache")
	cmd := exec.Command(filepath.Join(root, "bin", "k8s", "kubectl"), append([]string{"--kubeconfig", signet.Kubeconfig, "--cache-dir", cacheDir}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// scenario gives a test its own namespace with one sample applied, and
// dumps resources and logs if the test fails.
func scenario(t *testing.T, sample string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	if err := signet.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dump(t, ns.Name)
		}
	})
	kubectl(t, "apply", "-n", ns.Name, "-f", filepath.Join(root, "config", "samples", sample))
	return ns.Name
}

func dump(t *testing.T, ns string) {
	t.Logf("--- resources in %s ---\n%s", ns, kubectl(t, "get", "signet,secrets", "-n", ns, "-o", "wide"))
	t.Logf("--- status ---\n%s", kubectl(t, "get", "signet", "-n", ns, "-o", "jsonpath={range .items[*]}{.kind}/{.metadata.name}: {.status}{\"\\n\"}{end}"))
	for name, path := range signet.Logs() {
		data, _ := os.ReadFile(path)
		lines := strings.Split(string(data), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		t.Logf("--- last lines of %s ---\n%s", name, strings.Join(lines, "\n"))
	}
}

// workloadSecret waits for and returns the data of a workload Secret.
func workloadSecret(t *testing.T, ns, name, key string) map[string]string {
	t.Helper()
	return testutil.WorkloadSecret(t, signet.Client, 30*time.Second, ns, name, key)
}
