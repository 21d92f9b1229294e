//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// revivalManifest is what a GitOps tool keeps applying: an account and a
// credential whose workload Secret outlives it.
const revivalManifest = `apiVersion: iam.signet.dev/v1alpha1
kind: ServiceAccount
metadata: {name: gitops-app}
spec: {description: "Re-applied by a GitOps re-sync"}
---
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: gitops-app}
spec: {serviceAccountName: gitops-app, deletionPolicy: Orphan}
`

// TestRevivalPaths: the two ways a dead secret used to come back, through
// the real manager, token server and kubectl. A ServiceAccount deleted and
// re-applied with the same name, and a ClientCredential deleted with
// deletionPolicy Orphan and re-applied, are new identities: the old secret
// is refused and the old token inactive within a second, still a minute
// later, while the re-applied objects work with a new secret.
func TestRevivalPaths(t *testing.T) {
	manifest := filepath.Join(t.TempDir(), "gitops-app.yaml")
	if err := os.WriteFile(manifest, []byte(revivalManifest), 0o600); err != nil {
		t.Fatal(err)
	}
	type path struct {
		ns       string
		old      map[string]string
		oldToken *oauth2.Token
		api      map[string]string
	}
	start := func(name string) *path {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-revival-"}}
		if err := signet.Client.Create(context.Background(), ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if t.Failed() {
				dump(t, ns.Name)
			}
		})
		p := &path{ns: ns.Name, api: introspector(t, ns.Name)}
		kubectl(t, "apply", "-n", p.ns, "-f", manifest)
		p.old = workloadSecret(t, p.ns, "gitops-app", "client_secret")
		waitFor(t, 10*time.Second, name+": first token", func() (err error) { p.oldToken, err = tokenFor(p.old); return err })
		return p
	}
	dead := func(p *path) func() error {
		return func() error {
			if _, err := tokenFor(p.old); refusedWith(err, "invalid_client") != nil {
				return fmt.Errorf("the old secret: %v", err)
			}
			return inactive(p.api, p.oldToken.AccessToken)
		}
	}

	account := start("account re-applied")
	kubectl(t, "delete", "-n", account.ns, "serviceaccounts.iam.signet.dev", "gitops-app")
	within(t, "a deleted account's secret and token die", dead(account))
	kubectl(t, "apply", "-n", account.ns, "-f", manifest)

	credential := start("credential re-applied")
	kubectl(t, "delete", "-n", credential.ns, "clientcredential", "gitops-app")
	within(t, "a deleted credential's secret and token die", dead(credential))
	kubectl(t, "apply", "-n", credential.ns, "-f", manifest)

	for name, p := range map[string]*path{"account re-applied": account, "credential re-applied": credential} {
		waitFor(t, 10*time.Second, name+": the re-applied objects work with a new secret", func() error {
			fresh := workloadSecret(t, p.ns, "gitops-app", "client_secret")
			if fresh["client_secret"] == p.old["client_secret"] {
				return fmt.Errorf("the workload Secret still holds the old secret")
			}
			_, err := tokenFor(fresh)
			return err
		})
		if err := dead(p)(); err != nil {
			t.Errorf("%s: came back to life: %v", name, err)
		}
	}

	// And a minute later, still dead.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Second) {
		for name, p := range map[string]*path{"account re-applied": account, "credential re-applied": credential} {
			if err := dead(p)(); err != nil {
				t.Fatalf("%s: came back to life: %v", name, err)
			}
		}
	}
}
