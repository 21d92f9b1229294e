//go:build e2e

package e2e

// Deletion and revocation on a control plane that deletes as a cluster does
// (kube-controller-manager's namespace and garbage-collector controllers),
// checked on both token-server replicas: each event of SECURITY.md item 18,
// namespace deletion, garbage collection of the workload Secret, and
// re-created resources that must not revive a dead secret.

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/testutil"
)

// Each event of SECURITY.md item 18 (and the deletion of the account, which
// ARCHITECTURE.md adds) refuses the old secret and deactivates the tokens
// already issued, on every replica, within a second, and for good. The
// change is written with the Go client rather than kubectl, so that the
// logged times measure the propagation (manager, record, each replica's
// watch) from the moment the API server has the change, and not kubectl's
// start-up.
func TestRevocationReachesEveryReplica(t *testing.T) {
	account := func(ns string) client.Object {
		return &iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reporter"}}
	}
	credential := func(ns string) client.Object {
		return &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reporter"}}
	}
	patch := func(obj func(string) client.Object, p string) func(string) error {
		return func(ns string) error {
			return signet.Client.Patch(context.Background(), obj(ns), client.RawPatch(types.MergePatchType, []byte(p)))
		}
	}
	remove := func(obj func(string) client.Object) func(string) error {
		return func(ns string) error { return signet.Client.Delete(context.Background(), obj(ns)) }
	}
	events := []struct {
		name   string
		change func(ns string) error
	}{
		{"disable the account", patch(account, `{"spec":{"disabled":true}}`)},
		{"revoke the credential", patch(credential, `{"spec":{"revoked":true}}`)},
		{"rotate without grace", patch(credential, `{"spec":{"rotation":{"trigger":"leaked"}}}`)},
		{"delete the credential", remove(credential)},
		{"delete the account", remove(account)},
	}
	for _, ev := range events {
		t.Run(ev.name, func(t *testing.T) {
			v := newVictim(t)
			if err := ev.change(v.ns); err != nil {
				t.Fatal(err)
			}
			v.expectDead(t, ev.name, time.Now())
		})
	}
}

// Deleting a namespace removes everything in it, the Signet resources'
// finalizers included, and leaves nothing that still works: neither the
// workload Secret's credential nor the tokens issued with it, nor the
// credential record in the Signet namespace.
func TestNamespaceDeletionRevokes(t *testing.T) {
	v := newVictim(t)
	rec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: signet.Namespace, Name: record.SecretName(v.creds["client_id"])}}
	if err := signet.Client.Get(context.Background(), client.ObjectKeyFromObject(rec), rec); err != nil {
		t.Fatalf("the credential record: %v", err)
	}
	kubectl(t, "delete", "namespace", v.ns, "--wait=false")
	took := gone(t, 2*time.Minute, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: v.ns}})
	t.Logf("namespace %s gone %v after the delete request", v.ns, took.Round(time.Millisecond))
	v.expectDead(t, "namespace deleted", time.Now())
	gone(t, time.Second, rec)
}

// Deleting a ClientCredential with the default deletionPolicy (Delete)
// deletes its workload Secret, whether kubectl deletes in the background or
// in the foreground as Argo CD prunes by default: the garbage collector then
// deletes the owned Secret first and only then lets the ClientCredential go.
func TestDeletingACredentialDeletesItsSecret(t *testing.T) {
	for _, cascade := range []string{"background", "foreground"} {
		t.Run(cascade, func(t *testing.T) {
			v := newVictim(t)
			kubectl(t, "delete", "-n", v.ns, "clientcredential", "reporter", "--cascade="+cascade, "--wait=false")
			v.expectDead(t, "credential deleted ("+cascade+")", time.Now())
			gone(t, 30*time.Second, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: v.ns, Name: "reporter"}})
			gone(t, 30*time.Second, &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Namespace: v.ns, Name: "reporter"}})
		})
	}
}

// An account deleted and re-applied with the same name, as GitOps does on a
// re-sync, is a new identity: its credential's old secret and tokens stay
// dead, because the record remembers the account's UID.
func TestRecreatedAccountRevivesNothing(t *testing.T) {
	v := newVictim(t)
	kubectl(t, "-n", v.ns, "delete", "serviceaccounts.iam.signet.dev", "reporter", "--wait=false")
	v.expectDead(t, "account deleted", time.Now())
	gone(t, 30*time.Second, &iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: v.ns, Name: "reporter"}})

	applyManifest(t, v.ns, v.manifest)
	accountReady(t, v.ns, "reporter")
	credentialReady(t, v.ns, "reporter")
	v.expectDead(t, "account re-created", time.Now())
}

// A ClientCredential deleted with deletionPolicy Orphan leaves its workload
// Secret behind; re-created with the same name it is a new credential, and
// the orphaned secret works neither under the old client_id nor under the
// new one: the new credential writes its own secret into the Secret.
func TestRecreatedCredentialRevivesNothing(t *testing.T) {
	v := newVictim(t)
	kubectl(t, "-n", v.ns, "patch", "clientcredential", "reporter", "--type=merge", "-p", `{"spec":{"deletionPolicy":"Orphan"}}`)
	credentialReady(t, v.ns, "reporter")
	kubectl(t, "-n", v.ns, "delete", "clientcredential", "reporter", "--wait=false")
	v.expectDead(t, "credential deleted (Orphan)", time.Now())
	gone(t, 30*time.Second, &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Namespace: v.ns, Name: "reporter"}})
	if orphan := workloadSecret(t, v.ns, "reporter", "client_secret"); orphan["client_secret"] != v.creds["client_secret"] {
		t.Fatal("deletionPolicy Orphan did not leave the workload Secret as it was")
	}

	applyManifest(t, v.ns, v.manifest)
	credentialReady(t, v.ns, "reporter")
	renewed := workloadSecret(t, v.ns, "reporter", "client_id")
	if renewed["client_id"] == v.creds["client_id"] {
		t.Fatalf("the re-created credential kept client_id %s", renewed["client_id"])
	}
	oldSecretNewID := map[string]string{"client_id": renewed["client_id"], "client_secret": v.creds["client_secret"]}
	v.expectDead(t, fmt.Sprintf("credential re-created (client_id %s)", renewed["client_id"]), time.Now(), v.creds, oldSecretNewID)
}

// A token revoked by its client (RFC 7009) on one replica is inactive on
// every replica within a second, and for good; the client's other token and
// its secret are untouched.
func TestRevokedTokenIsInactiveOnEveryReplica(t *testing.T) {
	v := newVictim(t)
	revoked, kept := v.tokens[1], v.tokens[0]
	if status := revokeAt(t, signet.Replicas[0], v.creds, revoked); status != http.StatusOK {
		t.Fatalf("revocation: HTTP %d", status)
	}
	since := time.Now()
	var checks []deathCheck
	for i, base := range signet.Replicas {
		replica := fmt.Sprintf("replica %d", i+1)
		checks = append(checks,
			deathCheck{name: replica + ": revoked token inactive", check: func() error { return inactiveAt(base, v.auditor, revoked) }},
			deathCheck{name: replica + ": other token active", check: func() error { return activeAt(base, v.auditor, kept) }},
			deathCheck{name: replica + ": secret accepted", check: func() error { _, err := tokenAt(base, v.creds); return err }},
		)
	}
	await(t, "token revoked", since, checks)
	hold(t, "token revoked", checks)
}

// revokeAt posts an RFC 7009 revocation to the replica at base as the
// client creds, and returns the HTTP status.
func revokeAt(t *testing.T, base string, creds map[string]string, token string) int {
	t.Helper()
	status, err := testutil.RevokeAt(base, creds, token)
	if err != nil {
		t.Fatal(err)
	}
	return status
}
