//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubectlNeverPrintsAPastedPrivateKey applies a ClientCredential whose
// publicKeys.pem holds the Dfns sample's private key with the real kubectl,
// as a new object and as a change to an existing one, client-side and
// server-side. The refusal kubectl prints must name the field and the fix
// and hold no line of the key.
func TestKubectlNeverPrintsAPastedPrivateKey(t *testing.T) {
	ns := scenario(t, "dfns-public-key-account.yaml")
	keyPEM, err := os.ReadFile(filepath.Join(root, "test", "e2e", "testdata", "dfns-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	manifest := func(name string) string {
		path := filepath.Join(t.TempDir(), name+".yaml")
		doc := "apiVersion: iam.signet.dev/v1alpha1\nkind: ClientCredential\nmetadata: {name: " + name + "}\nspec:\n" +
			"  serviceAccountName: treasury-signer\n  type: PrivateKeyJWT\n  publicKeys:\n    pem: |\n      " +
			strings.ReplaceAll(strings.TrimSpace(string(keyPEM)), "\n", "\n      ") + "\n"
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	for name, args := range map[string][]string{
		"create":              {"apply", "-f", manifest("pasted-key")},
		"create, server-side": {"apply", "--server-side", "-f", manifest("pasted-key")},
		"update":              {"apply", "-f", manifest("treasury-signer")},
		"update, server-side": {"apply", "--server-side", "--force-conflicts", "-f", manifest("treasury-signer")},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(root, "bin", "k8s", "kubectl"), append([]string{"--kubeconfig", signet.Kubeconfig, "--cache-dir", filepath.Join(filepath.Dir(signet.Kubeconfig), "kubectl-cache"), "-n", ns}, args...)...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("kubectl applied a private key:\n%s", out)
			}
			t.Logf("kubectl %s:\n%s", name, out)
			if !strings.Contains(string(out), "spec.publicKeys.pem") || !strings.Contains(string(out), "paste only the public key") {
				t.Errorf("kubectl's output does not name the field and the fix:\n%s", out)
			}
			for _, line := range strings.Split(string(keyPEM), "\n") {
				if len(line) >= 8 && !strings.HasPrefix(line, "-----") && strings.Contains(string(out), line) {
					t.Fatalf("kubectl printed a line of the private key:\n%s", out)
				}
			}
		})
	}
}
