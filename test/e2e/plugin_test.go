//go:build e2e

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// pluginDir holds kubectl-signet, built once from this tree, so that the
// real kubectl finds it on the PATH as the "signet" plugin.
var (
	pluginOnce sync.Once
	pluginDir  string
	pluginErr  error
)

// kubectlSignet runs "kubectl signet ARGS" through the real kubectl's plugin
// mechanism and returns stdout, stderr and the exit error.
func kubectlSignet(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	pluginOnce.Do(func() {
		if pluginDir, pluginErr = os.MkdirTemp("", "signet-plugin-"); pluginErr != nil {
			return
		}
		out, err := exec.Command("go", "build", "-o", filepath.Join(pluginDir, "kubectl-signet"), filepath.Join(root, "cmd", "kubectl-signet")).CombinedOutput()
		if err != nil {
			pluginErr = fmt.Errorf("building kubectl-signet: %w\n%s", err, out)
		}
	})
	if pluginErr != nil {
		t.Fatal(pluginErr)
	}
	cmd := exec.Command(filepath.Join(root, "bin", "k8s", "kubectl"), append([]string{"signet", "--kubeconfig", signet.Kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+pluginDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// mustSignet runs kubectl signet and fails the test on a non-zero exit.
func mustSignet(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := kubectlSignet(t, args...)
	if err != nil {
		t.Fatalf("kubectl signet %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// exitCode is the exit status of a finished command (0 when err is nil).
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestPluginTokenStatusInspect walks a ClientSecret credential (the Itential
// sample) through token, status, inspect, rotate and revoke.
func TestPluginTokenStatusInspect(t *testing.T) {
	ns := scenario(t, "itential-product-client.yaml")
	first := workloadSecret(t, ns, "automation-gateway-oauth", "client_secret")

	var token string
	waitFor(t, 10*time.Second, "kubectl signet token", func() error {
		out, errOut, err := kubectlSignet(t, "-n", ns, "token", "automation-gateway")
		if err != nil {
			return fmt.Errorf("%w: %s", err, errOut)
		}
		token = strings.TrimSpace(out)
		return nil
	})
	claims := verify(t, token)
	if claims["client_id"] != first["client_id"] || !strings.Contains(fmt.Sprint(claims["scope"]), "automation:execute") {
		t.Errorf("token claims %v", claims)
	}

	t.Run("decode", func(t *testing.T) {
		var parts struct{ Header, Claims map[string]any }
		if err := json.Unmarshal([]byte(mustSignet(t, "-n", ns, "token", "automation-gateway", "--scope", "automation:read", "--decode")), &parts); err != nil {
			t.Fatal(err)
		}
		if parts.Header["typ"] != "at+jwt" || parts.Claims["scope"] != "automation:read" {
			t.Errorf("decoded %v", parts)
		}
	})
	t.Run("token -o json", func(t *testing.T) {
		var resp map[string]any
		if err := json.Unmarshal([]byte(mustSignet(t, "-n", ns, "token", "automation-gateway", "-o", "json")), &resp); err != nil {
			t.Fatal(err)
		}
		if resp["token_type"] != "Bearer" || resp["access_token"] == "" {
			t.Errorf("response %v", resp)
		}
	})
	t.Run("a scope the account lacks", func(t *testing.T) {
		_, errOut, err := kubectlSignet(t, "-n", ns, "token", "automation-gateway", "--scope", "billing:write")
		if exitCode(err) != 1 || !strings.Contains(errOut, "invalid_scope") {
			t.Errorf("exit %d, stderr %q; want 1 and invalid_scope", exitCode(err), errOut)
		}
	})
	t.Run("status", func(t *testing.T) {
		kubectl(t, "wait", "-n", ns, "clientcredentials.iam.signet.dev/automation-gateway", "--for=condition=Propagated", "--timeout=30s")
		out := mustSignet(t, "-n", ns, "status", "automation-gateway")
		for _, want := range []string{
			"ServiceAccount " + ns + "/automation-gateway: True",
			"automation:execute automation:read",
			"https://automation-studio.example.com",
			first["client_id"],
			"PROPAGATED",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("status lacks %q:\n%s", want, out)
			}
		}
		if !regexp.MustCompile(`(?m)^\s+automation-gateway\s+ClientSecret\s.*\sTrue$`).MatchString(out) || strings.Contains(out, "does not report it") {
			t.Errorf("status does not show the credential Propagated:\n%s", out)
		}
		if strings.Contains(out, first["client_secret"]) {
			t.Fatal("status printed the client secret")
		}
		var list struct {
			Kind  string
			Items []struct{ Kind string }
		}
		if err := json.Unmarshal([]byte(mustSignet(t, "-n", ns, "status", "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		if list.Kind != "List" || len(list.Items) != 2 || list.Items[0].Kind != "ServiceAccount" || list.Items[1].Kind != "ClientCredential" {
			t.Errorf("status -o json: %+v", list)
		}
		names := mustSignet(t, "-n", ns, "status", "clientcredential/automation-gateway", "-o", "name")
		if names != "serviceaccount.iam.signet.dev/automation-gateway\nclientcredential.iam.signet.dev/automation-gateway\n" {
			t.Errorf("status -o name: %q", names)
		}
		if _, errOut, err := kubectlSignet(t, "-n", ns, "status", "nothing-here"); exitCode(err) != 1 || !strings.Contains(errOut, `"nothing-here"`) {
			t.Errorf("status of a missing name: exit %d, %q", exitCode(err), errOut)
		}
	})
	t.Run("inspect", func(t *testing.T) {
		out := mustSignet(t, "-n", ns, "inspect", token, "--credential", "automation-gateway")
		for _, want := range []string{"typ:", `"at+jwt"`, "Signature: verified", "Introspection: active"} {
			if !strings.Contains(out, want) {
				t.Errorf("inspect lacks %q:\n%s", want, out)
			}
		}
		// A changed claim breaks the signature.
		segs := strings.Split(token, ".")
		claims, err := base64.RawURLEncoding.DecodeString(segs[1])
		if err != nil {
			t.Fatal(err)
		}
		widened := strings.Replace(string(claims), `"scope":"`, `"scope":"admin `, 1)
		forged := segs[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(widened)) + "." + segs[2]
		out, _, err = kubectlSignet(t, "inspect", forged)
		if exitCode(err) != 1 || !strings.Contains(out, "NOT verified") {
			t.Errorf("a forged token: exit %d\n%s", exitCode(err), out)
		}
	})
	t.Run("rotate --wait", func(t *testing.T) {
		out := mustSignet(t, "-n", ns, "rotate", "automation-gateway", "--wait")
		if !strings.Contains(out, "clientcredential.iam.signet.dev/automation-gateway rotation triggered") {
			t.Errorf("rotate printed %q", out)
		}
		after := workloadSecret(t, ns, "automation-gateway-oauth", "client_secret")
		if after["client_secret"] == first["client_secret"] || after["client_id"] != first["client_id"] {
			t.Fatal("rotate --wait returned before the workload Secret held a new secret")
		}
		waitFor(t, 10*time.Second, "a token with the rotated secret", func() error {
			_, errOut, err := kubectlSignet(t, "-n", ns, "token", "automation-gateway")
			if err != nil {
				return fmt.Errorf("%w: %s", err, errOut)
			}
			return nil
		})
	})
	t.Run("revoke --wait", func(t *testing.T) {
		out, errOut, err := kubectlSignet(t, "-n", ns, "revoke", "automation-gateway", "--wait", "-o", "name")
		if err != nil {
			t.Fatalf("%v: %s", err, errOut)
		}
		if strings.TrimSpace(out) != "clientcredential.iam.signet.dev/automation-gateway" || errOut != "" {
			t.Errorf("revoke --wait: stdout %q, stderr %q", out, errOut)
		}
		// revoke --wait returned once the revocation was Propagated: the
		// token server refuses the credential at once.
		if _, errOut, err := kubectlSignet(t, "-n", ns, "token", "automation-gateway"); err == nil {
			t.Error("a token was issued after revoke --wait returned")
		} else if !strings.Contains(errOut, "invalid_client") && !strings.Contains(errOut, "holds no") {
			t.Errorf("unexpected refusal: %s", errOut)
		}
	})
}

// TestPluginTokenAPIKeyAndPrivateKeyJWT gets tokens with the other two
// credential types: an API key (IBM sample) and a generated private key.
func TestPluginTokenAPIKeyAndPrivateKeyJWT(t *testing.T) {
	ns := scenario(t, "ibm-service-id-apikey.yaml")
	manifest := filepath.Join(t.TempDir(), "jwt.yaml")
	if err := os.WriteFile(manifest, []byte(`apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata:
  name: billing-exporter-jwt
spec:
  serviceAccountName: billing-exporter
  type: PrivateKeyJWT
`), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-n", ns, "-f", manifest)
	workloadSecret(t, ns, "billing-exporter-apikey", "api_key")
	workloadSecret(t, ns, "billing-exporter-jwt", "private_key.pem")
	for _, name := range []string{"billing-exporter-apikey", "billing-exporter-jwt"} {
		waitFor(t, 10*time.Second, "kubectl signet token "+name, func() error {
			out, errOut, err := kubectlSignet(t, "-n", ns, "token", name)
			if err != nil {
				return fmt.Errorf("%w: %s", err, errOut)
			}
			if claims := verify(t, strings.TrimSpace(out)); claims["scope"] != "billing:read" {
				return fmt.Errorf("claims %v", claims)
			}
			return nil
		})
	}
	// Introspection authenticated with the generated private key.
	tok := strings.TrimSpace(mustSignet(t, "-n", ns, "token", "billing-exporter-apikey"))
	out := mustSignet(t, "-n", ns, "inspect", tok, "--credential", "billing-exporter-jwt", "-o", "json")
	var res struct {
		Verified      bool
		Introspection map[string]any
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Verified || res.Introspection == nil {
		t.Errorf("inspect -o json: %s", out)
	}
}

// TestPluginCanGrant asks the API server, as the administrator and as a
// ServiceAccount with and without the RBAC verb grant on a scope.
func TestPluginCanGrant(t *testing.T) {
	ns := scenario(t, "ibm-service-id-apikey.yaml")
	if out := mustSignet(t, "-n", ns, "can-grant", "orders:read", "--audience", "https://orders.example.com"); strings.Count(out, "yes") != 2 {
		t.Errorf("the administrator may grant anything:\n%s", out)
	}
	as := "--as=system:serviceaccount:" + ns + ":deployer"
	out, _, err := kubectlSignet(t, "-n", ns, as, "can-grant", "orders:read")
	if exitCode(err) != 1 || !strings.Contains(out, "no") || !strings.Contains(out, "resourceNames") {
		t.Errorf("without a grant: exit %d\n%s", exitCode(err), out)
	}
	rbac := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(rbac, []byte(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: grant-orders-read
rules:
  - apiGroups: [iam.signet.dev]
    resources: [scopes]
    verbs: [grant]
    resourceNames: ["orders:read"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: deployer-grants
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: grant-orders-read
subjects:
  - kind: ServiceAccount
    name: deployer
    namespace: `+ns+`
`), 0o600); err != nil {
		t.Fatal(err)
	}
	kubectl(t, "apply", "-n", ns, "-f", rbac)
	waitFor(t, 10*time.Second, "the Role in force", func() error {
		_, _, err := kubectlSignet(t, "-n", ns, as, "can-grant", "orders:read")
		return err
	})
	out, _, err = kubectlSignet(t, "-n", ns, as, "can-grant", "orders:read", "orders:write", "-o", "json")
	var checks []struct {
		Name    string
		Allowed bool
	}
	if jerr := json.Unmarshal([]byte(out), &checks); jerr != nil {
		t.Fatalf("%v: %s", jerr, out)
	}
	if exitCode(err) != 1 || len(checks) != 2 || !checks[0].Allowed || checks[1].Allowed {
		t.Errorf("one of two granted: exit %d, %+v", exitCode(err), checks)
	}
}

// TestPluginCompletion checks the completion scripts and that names come
// from the cluster.
func TestPluginCompletion(t *testing.T) {
	ns := scenario(t, "ibm-service-id-apikey.yaml")
	if out := mustSignet(t, "completion", "bash"); !strings.Contains(out, "__start_kubectl-signet") {
		t.Errorf("bash completion script:\n%.300s", out)
	}
	waitFor(t, 10*time.Second, "completion of credential names", func() error {
		out, _, _ := kubectlSignet(t, "__complete", "-n", ns, "token", "billing")
		if !strings.Contains(out, "billing-exporter-apikey") {
			return fmt.Errorf("completion: %q", out)
		}
		return nil
	})

	// "kubectl signet <TAB>" in kubectl's own completion: kubectl runs
	// plugins/kubectl_complete-signet from the PATH.
	dir := t.TempDir()
	script, err := os.ReadFile(filepath.Join(root, "plugins", "kubectl_complete-signet"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubectl_complete-signet"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(root, "bin", "k8s", "kubectl"), "__complete", "signet", "--kubeconfig", signet.Kubeconfig, "-n", ns, "token", "billing")
	cmd.Env = append(os.Environ(), "PATH="+strings.Join([]string{dir, pluginDir, os.Getenv("PATH")}, string(os.PathListSeparator)))
	out, err := cmd.Output()
	if err != nil || !strings.Contains(string(out), "billing-exporter-apikey") {
		t.Errorf("kubectl __complete signet ... token billing: %v\n%s", err, out)
	}
}
