package v1alpha1_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signet-iam/signet/internal/testenv"
)

// kubectl runs the kubectl built into bin/k8s against the test API server.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := tryKubectl(t, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func tryKubectl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	// A discovery cache of its own: another API server may have used this
	// port before, and kubectl would trust what it cached from that one.
	cacheDir := filepath.Join(t.TempDir(), "cache")
	out, err := exec.Command(filepath.Join(assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig, "--cache-dir", cacheDir}, args...)...).CombinedOutput()
	return string(out), err
}

// TestExplainDocumentsEveryField lists every field of each spec with
// "kubectl explain --recursive", then explains each one and checks that its
// description starts with its own JSON name, as the API conventions ask.
func TestExplainDocumentsEveryField(t *testing.T) {
	field := regexp.MustCompile(`^(\s+)([a-zA-Z]+)\t<`)
	// --api-version, because the core ServiceAccount shadows Signet's.
	apiVersion := "--api-version=iam.signet.dev/v1alpha1"
	// The API server publishes a new CRD's OpenAPI schema a moment after the
	// CRD is established; explain reads that schema.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := tryKubectl(t, "explain", "clientcredentials", apiVersion)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl explain never found the CRDs: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, kind := range []string{"clientcredentials", "serviceaccounts", "accessrules"} {
		for _, part := range []string{"spec", "status"} {
			var path []string
			var indents []int
			n := 0
			for _, line := range strings.Split(kubectl(t, "explain", kind+"."+part, "--recursive", apiVersion), "\n") {
				m := field.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				depth := len(m[1])
				for len(indents) > 0 && indents[len(indents)-1] >= depth {
					indents, path = indents[:len(indents)-1], path[:len(path)-1]
				}
				indents, path = append(indents, depth), append(path, m[2])
				if part == "status" && path[0] == "conditions" && len(path) > 1 {
					continue // metav1.Condition documents itself
				}
				n++
				name := strings.Join(path, ".")
				doc := kubectl(t, "explain", kind+"."+part+"."+name, apiVersion)
				_, desc, _ := strings.Cut(doc, "DESCRIPTION:")
				desc = strings.TrimSpace(desc)
				if !regexp.MustCompile(`^` + m[2] + `[ ,:]`).MatchString(desc) {
					t.Errorf("kubectl explain %s.%s.%s: description does not start with %q:\n%s", kind, part, name, m[2], desc)
				}
			}
			if n < 3 {
				t.Errorf("kubectl explain %s.%s --recursive listed only %d fields", kind, part, n)
			}
		}
	}
}
