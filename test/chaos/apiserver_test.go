//go:build chaos

package chaos

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/signet-iam/signet/internal/testutil"
)

// TestAPIServerOutage takes the API server away for -chaos.outage under
// load, frozen with SIGSTOP and then killed with SIGKILL and started again.
// Neither may refuse one valid client_credentials or introspection
// request; a token revoked before the outage stays revoked on both
// replicas throughout; /readyz stays ok but says the server is degraded;
// and once the API server is back, each replica reconnects and a new
// revocation reaches both within 5 s.
func TestAPIServerOutage(t *testing.T) {
	f := newLoadFixture(t, 4)
	api, err := signet.APIServer()
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"SIGSTOP", "SIGKILL"} {
		t.Run(mode, func(t *testing.T) {
			revoked := revokedToken(t, f)
			l := startLoad(t, f, false)
			// Some load before the fault, so that a failure to start shows.
			testutil.WaitFor(t, 30*time.Second, "load is flowing", func() error {
				if l.tokens() < 20 {
					return fmt.Errorf("%d tokens so far", l.tokens())
				}
				return nil
			})
			start := time.Now()
			if mode == "SIGSTOP" {
				if err := api.Pause(); err != nil {
					t.Fatal(err)
				}
			} else if err := api.Kill(); err != nil {
				t.Fatal(err)
			}
			degraded := testutil.WaitFor(t, *outage+30*time.Second, "both replicas report the outage", func() error {
				return everyReplica(func(base string) error { return readyzSays(base, "unreachable since") })
			})
			result(t, "both replicas said degraded in /readyz %v after the fault", degraded.Round(100*time.Millisecond))
			// Through the outage: readiness holds, the revocation holds,
			// and a revocation that cannot be recorded is not confirmed.
			checkRevocationUnrecordable(t, f)
			for time.Since(start) < *outage {
				if err := everyReplica(func(base string) error { return testutil.InactiveAt(base, f.auditor, revoked) }); err != nil {
					t.Fatalf("a token revoked before the outage: %v", err)
				}
				time.Sleep(200 * time.Millisecond) // the pace of the check, not a wait for a condition
			}
			back := time.Now()
			if mode == "SIGSTOP" {
				err = api.Resume()
			} else {
				err = api.Restart(filepath.Join(t.TempDir(), "kube-apiserver.log"), 2*time.Minute)
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := api.WaitReady(time.Minute); err != nil {
				t.Fatal(err)
			}
			ready := time.Since(back)
			resync := testutil.WaitFor(t, 30*time.Second, "both replicas reconnect", func() error {
				return everyReplica(func(base string) error { return readyzSays(base, "(connected)") })
			})
			propagated := revocationPropagation(t, f)
			result(t, "outage %v; API server ready %v after %s; replicas reconnected %v later; a new revocation reached both replicas in %v",
				back.Sub(start).Round(100*time.Millisecond), ready.Round(100*time.Millisecond), strings.ToLower(map[string]string{"SIGSTOP": "SIGCONT", "SIGKILL": "restart"}[mode]),
				resync.Round(100*time.Millisecond), propagated.Round(10*time.Millisecond))
			if resync+propagated > *resyncTarget {
				t.Errorf("watches resynced in %v, want at most %v", resync+propagated, *resyncTarget)
			}
			if err := everyReplica(func(base string) error { return testutil.InactiveAt(base, f.auditor, revoked) }); err != nil {
				t.Errorf("a token revoked before the outage, after it: %v", err)
			}
			l.check(t)
		})
	}
}

// everyReplica runs check on both replicas and returns the first error.
func everyReplica(check func(base string) error) error {
	for _, base := range replicas {
		if err := check(base); err != nil {
			return fmt.Errorf("%s: %w", base, err)
		}
	}
	return nil
}

// readyzSays reports an error unless the replica's /readyz answers 200
// and its verbose form contains want.
func readyzSays(base, want string) error {
	resp, err := http.Get(base + "/readyz?verbose")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz answered %d:\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(string(body), want) {
		return fmt.Errorf("/readyz does not say %q:\n%s", want, body)
	}
	return nil
}

// revokedToken returns a token of the first load client revoked at the
// first replica and inactive on both.
func revokedToken(t *testing.T, f *loadFixture) string {
	t.Helper()
	tok, err := testutil.TokenAt(replicas[0], f.secrets[0])
	if err != nil {
		t.Fatal(err)
	}
	if status, err := testutil.RevokeAt(replicas[0], f.secrets[0], tok.AccessToken); err != nil || status != http.StatusOK {
		t.Fatalf("revocation: %d %v", status, err)
	}
	testutil.WaitFor(t, 10*time.Second, "the revoked token is inactive on both replicas", func() error {
		return everyReplica(func(base string) error { return testutil.InactiveAt(base, f.auditor, tok.AccessToken) })
	})
	return tok.AccessToken
}

// revocationPropagation revokes a fresh token at the first replica and
// returns how long the second took to see it inactive.
func revocationPropagation(t *testing.T, f *loadFixture) time.Duration {
	t.Helper()
	tok, err := testutil.TokenAt(replicas[0], f.secrets[1])
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if status, err := testutil.RevokeAt(replicas[0], f.secrets[1], tok.AccessToken); err != nil || status != http.StatusOK {
		t.Fatalf("revocation after the outage: %d %v", status, err)
	}
	testutil.WaitFor(t, 30*time.Second, "the new revocation reaches the second replica", func() error {
		return testutil.InactiveAt(replicas[1], f.auditor, tok.AccessToken)
	})
	return time.Since(start)
}

// checkRevocationUnrecordable revokes a token while the API server is away:
// the answer must be 503 (SECURITY.md item 17), and the token must stay
// active, since nothing was recorded.
func checkRevocationUnrecordable(t *testing.T, f *loadFixture) {
	t.Helper()
	tok, err := testutil.TokenAt(replicas[1], f.secrets[2])
	if err != nil {
		t.Fatalf("a token during the outage: %v", err)
	}
	status, err := testutil.RevokeAt(replicas[1], f.secrets[2], tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	result(t, "a revocation during the outage answered %d", status)
	if status != http.StatusServiceUnavailable {
		t.Errorf("a revocation during the outage answered %d, want 503", status)
	}
}

// TestRevocationPropagation is the timing half of SECURITY.md item 18,
// which the integration suites log but do not assert: a token revoked at
// one replica must be inactive at the other within a second. It revokes
// -chaos.revocations tokens, alternating replicas, and requires the 99th
// percentile to meet the target.
func TestRevocationPropagation(t *testing.T) {
	f := newLoadFixture(t, 2)
	var took []time.Duration
	for i := range *revocations {
		at, other := replicas[i%2], replicas[1-i%2]
		creds := f.secrets[i%len(f.secrets)]
		tok, err := testutil.TokenAt(at, creds)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if status, err := testutil.RevokeAt(at, creds, tok.AccessToken); err != nil || status != http.StatusOK {
			t.Fatalf("revocation %d: %d %v", i, status, err)
		}
		testutil.WaitFor(t, 10*time.Second, "the revocation reaches the other replica", func() error {
			return testutil.InactiveAt(other, f.auditor, tok.AccessToken)
		})
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	p := func(q float64) time.Duration { return took[int(q*float64(len(took)-1))].Round(time.Millisecond) }
	result(t, "%d revocations: inactive on the other replica after %v (median), %v (p99), %v (max)", len(took), p(0.5), p(0.99), p(1))
	if p(0.99) > time.Second {
		t.Errorf("99th percentile %v, want at most 1s", p(0.99))
	}
}
