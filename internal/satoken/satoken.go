// Package satoken keeps a file holding a short-lived token of one
// Kubernetes ServiceAccount, requested through the TokenRequest API and
// refreshed before it expires.
//
// The manager uses it to give the token server, its sidecar, the token
// server's own identity: the Pod mounts no ServiceAccount token into the
// token server's container, the manager writes the token server account's
// token into a volume only the two share, and client-go in the token server
// re-reads the file as it changes. See docs/design/0016-token-server-identity.md.
package satoken

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/clock"
)

// MinLifetime is the shortest token the TokenRequest API issues.
const MinLifetime = 10 * time.Minute

// Writer writes a ServiceAccount's token to Path and keeps it fresh.
type Writer struct {
	// Client requests the tokens; its identity needs "create" on
	// serviceaccounts/token for ServiceAccount in Namespace, and nothing more.
	Client corev1client.ServiceAccountsGetter
	// Namespace and ServiceAccount name the account whose token is written.
	Namespace, ServiceAccount string
	// Path is the file written; its directory must exist.
	Path string
	// Lifetime requested for each token (at least MinLifetime); the token is
	// replaced when half of it has passed, so a failing API server leaves
	// half a lifetime of retries before the token server loses access.
	Lifetime time.Duration
	// Log receives one line per refresh and per failure; never the token.
	Log logr.Logger
	// Clock schedules the refreshes; nil is the real clock.
	Clock clock.Clock
}

// NeedLeaderElection is false: every replica's token server needs its token.
func (w *Writer) NeedLeaderElection() bool { return false }

// Start writes the token, then refreshes it until ctx ends. Failures are
// logged and retried with backoff; they never stop the manager, since the
// token server keeps serving from its index while its token is valid.
func (w *Writer) Start(ctx context.Context) error {
	if w.Lifetime < MinLifetime {
		w.Lifetime = MinLifetime
	}
	clk := w.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	backoff := wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 8, Cap: time.Minute}
	for {
		var next time.Duration
		expires, err := w.Refresh(ctx)
		if err != nil {
			next = backoff.Step()
			w.Log.Error(err, "Writing the token server's ServiceAccount token failed; retrying", "serviceAccount", w.ServiceAccount, "retryIn", next.String())
		} else {
			backoff = wait.Backoff{Duration: time.Second, Factor: 2, Jitter: 0.1, Steps: 8, Cap: time.Minute}
			next = expires.Sub(clk.Now()) / 2
			w.Log.Info("Wrote the token server's ServiceAccount token", "serviceAccount", w.ServiceAccount, "expires", expires.UTC().Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-clk.After(next):
		}
	}
}

// Refresh requests a new token and replaces the file atomically, so that a
// reader never sees a partial token. It returns the token's expiry.
func (w *Writer) Refresh(ctx context.Context) (time.Time, error) {
	seconds := int64(w.Lifetime / time.Second)
	tr, err := w.Client.ServiceAccounts(w.Namespace).CreateToken(ctx, w.ServiceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &seconds},
	}, metav1.CreateOptions{})
	if err != nil {
		return time.Time{}, fmt.Errorf("requesting a token for ServiceAccount %s/%s: %w", w.Namespace, w.ServiceAccount, err)
	}
	if tr.Status.Token == "" {
		return time.Time{}, errors.New("the TokenRequest API returned an empty token")
	}
	if err := writeAtomically(w.Path, []byte(tr.Status.Token)); err != nil {
		return time.Time{}, err
	}
	return tr.Status.ExpirationTimestamp.Time, nil
}

func writeAtomically(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing the token file: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing the token file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing the token file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing the token file: %w", err)
	}
	return nil
}
