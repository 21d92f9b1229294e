//go:build chaos

package chaos

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/testutil"
)

// TestTokenServerKilled kills each token-server replica in turn with
// SIGKILL under load. The load's client retries a failed request once on
// the other replica: no request may fail after that retry. While a replica
// is down a new ClientCredential is created; once restarted, the replica
// must not answer /readyz with 200 before it can serve that credential.
func TestTokenServerKilled(t *testing.T) {
	f := newLoadFixture(t, 4)
	ns := namespace(t, "chaos-replica-")
	if err := signet.Client.Create(context.Background(), &iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "late", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	l := startLoad(t, f, true)
	for k, name := range []string{"token-server-2", "token-server"} {
		base := replicas[len(replicas)-1-k]
		time.Sleep(*loadFor / 4) // load before the kill: the scenario's pace
		if err := signet.Kill(name); err != nil {
			t.Fatal(err)
		}
		late := fmt.Sprintf("late-%d", k)
		if err := signet.Client.Create(context.Background(), &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Name: late, Namespace: ns},
			Spec: iamv1.ClientCredentialSpec{ServiceAccountName: "late"}}); err != nil {
			t.Fatal(err)
		}
		creds := workloadSecret(t, ns, late, "client_secret")
		time.Sleep(*loadFor / 4) // load while one replica is down
		if err := signet.Restart(name); err != nil {
			t.Fatal(err)
		}
		// Poll /readyz closely: at its first 200, the credential created
		// while the replica was down must already be served.
		took := testutil.WaitFor(t, time.Minute, name+" is ready again", func() error {
			resp, err := http.Get(base + "/readyz")
			if err != nil {
				return err
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("/readyz %d", resp.StatusCode)
			}
			return nil
		})
		if _, err := testutil.TokenAt(base, creds); err != nil {
			t.Errorf("%s answered /readyz before serving a credential created while it was down: %v", name, err)
		}
		result(t, "%s killed under load, restarted, ready %v later and serving the credential created meanwhile", name, took.Round(10*time.Millisecond))
	}
	time.Sleep(*loadFor / 4) // load after both came back
	l.check(t)
}

// TestSigningKeyRotation runs load while the managers rotate the signing
// key every -chaos.signing-period, until the tokens have been signed by
// -chaos.rotations+1 keys. The load's verifier is go-oidc with a remote key
// set, which fetches the JWKS again when a token names a kid it does not
// know: it must never fail.
func TestSigningKeyRotation(t *testing.T) {
	f := newLoadFixture(t, 4)
	l := startLoad(t, f, true)
	start := time.Now()
	kids := map[string]bool{}
	testutil.WaitFor(t, time.Duration(*rotations+1)**signingPeriod+2*time.Minute, "tokens signed by new keys", func() error {
		tok, err := testutil.TokenAt(replicas[0], f.secrets[0])
		if err != nil {
			return err
		}
		kids[kidOf(tok.AccessToken)] = true
		if len(kids) <= *rotations || time.Since(start) < *loadFor {
			return fmt.Errorf("tokens signed by %d keys so far", len(kids))
		}
		return nil
	})
	result(t, "tokens signed by %d keys over %v of load (rotation every %v, published %v ahead)",
		len(kids), time.Since(start).Round(time.Second), *signingPeriod, signingLead)
	l.check(t)
}

// kidOf returns the kid of a JWT's header, or "" when there is none.
func kidOf(raw string) string {
	head, _, _ := strings.Cut(raw, ".")
	data, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(data, &h)
	return h.Kid
}
