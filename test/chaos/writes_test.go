//go:build chaos

package chaos

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/testutil"
	"github.com/signet-iam/signet/internal/tokenserver/kube"
)

// Faults the proxy injects into the API server's writes.
const (
	faultNone = iota
	// faultRefused answers a write 503 without forwarding it.
	faultRefused
	// faultLost forwards a write, then drops the connection before the
	// answer: the write happened, but the writer cannot know.
	faultLost
)

// faultyProxy stands between one token-server replica and the API server.
// Reads and watches pass; writes fail as set.
type faultyProxy struct {
	srv    *httptest.Server
	caFile string
	fault  atomic.Int32
	failed atomic.Int64
}

func newFaultyProxy(t *testing.T) *faultyProxy {
	t.Helper()
	target, err := url.Parse(signet.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	// Forward with the replica's own bearer token, trusting only the API
	// server's CA.
	upstream, err := rest.TransportFor(&rest.Config{Host: signet.Config.Host, TLSClientConfig: rest.TLSClientConfig{CAData: signet.Config.CAData}})
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport, rp.FlushInterval = upstream, -1
	p := &faultyProxy{}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			rp.ServeHTTP(w, r)
			return
		}
		switch p.fault.Load() {
		case faultRefused:
			p.failed.Add(1)
			http.Error(w, "injected write failure", http.StatusServiceUnavailable)
		case faultLost:
			p.failed.Add(1)
			rp.ServeHTTP(httptest.NewRecorder(), r)
			panic(http.ErrAbortHandler)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	p.srv.EnableHTTP2 = true
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	p.caFile = filepath.Join(t.TempDir(), "proxy-ca.crt")
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	if err := os.WriteFile(p.caFile, ca, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRevocationWriteFailures starts a third token-server replica behind a
// proxy that fails the API server's writes, and revokes tokens through it.
// A revocation whose write fails answers 503, never 200 (SECURITY.md item
// 17). When the write was refused nothing is half-written: the ledgers are
// unchanged and the token stays active on every replica. When only the
// answer was lost, every replica agrees. Once writes pass again, the same
// revocation answers 200 and the token is inactive everywhere.
func TestRevocationWriteFailures(t *testing.T) {
	f := newLoadFixture(t, 2)
	proxy := newFaultyProxy(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	_ = l.Close()
	if err := signet.StartTokenServerVia(listen, proxy.srv.URL, proxy.caFile); err != nil {
		t.Fatal(err)
	}
	name := "token-server-" + strconv.Itoa(len(signet.Replicas))
	t.Cleanup(func() { _ = signet.Kill(name); signet.Replicas = replicas })
	faulty := "http://" + listen
	all := append([]string{faulty}, replicas...)
	testutil.WaitFor(t, time.Minute, "the replica behind the proxy serves", func() error {
		_, err := testutil.TokenAt(faulty, f.secrets[0])
		return err
	})
	for _, fault := range []int32{faultRefused, faultLost} {
		what := map[int32]string{faultRefused: "write refused", faultLost: "answer lost"}[fault]
		tok, err := testutil.TokenAt(faulty, f.secrets[0])
		if err != nil {
			t.Fatal(err)
		}
		before := ledgerVersions(t)
		proxy.fault.Store(fault)
		status, err := testutil.RevokeAt(faulty, f.secrets[0], tok.AccessToken)
		proxy.fault.Store(faultNone)
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusServiceUnavailable {
			t.Errorf("%s: revocation answered %d, want 503", what, status)
		}
		var state string
		switch fault {
		case faultRefused:
			if after := ledgerVersions(t); fmt.Sprint(after) != fmt.Sprint(before) {
				t.Errorf("%s: the ledgers changed: %v, then %v", what, before, after)
			}
			for _, base := range all {
				if err := testutil.ActiveAt(base, f.auditor, tok.AccessToken); err != nil {
					t.Errorf("%s: %s: the token whose revocation failed: %v", what, base, err)
				}
			}
			state = "ledgers unchanged, token active on every replica"
		case faultLost:
			// The write landed: every replica must come to agree that the
			// token is revoked.
			testutil.WaitFor(t, 10*time.Second, what+": every replica agrees", func() error {
				for _, base := range all {
					if err := testutil.InactiveAt(base, f.auditor, tok.AccessToken); err != nil {
						return fmt.Errorf("%s: %w", base, err)
					}
				}
				return nil
			})
			state = "the write landed; token inactive on every replica"
		}
		again, err := testutil.RevokeAt(faulty, f.secrets[0], tok.AccessToken)
		if err != nil || again != http.StatusOK {
			t.Fatalf("%s: the revocation retried once writes pass: %d %v", what, again, err)
		}
		took := testutil.WaitFor(t, 10*time.Second, what+": inactive everywhere after the retry", func() error {
			for _, base := range all {
				if err := testutil.InactiveAt(base, f.auditor, tok.AccessToken); err != nil {
					return fmt.Errorf("%s: %w", base, err)
				}
			}
			return nil
		})
		result(t, "%s: revocation answered %d (%d writes failed); %s; the retry answered 200 and reached every replica in %v",
			what, status, proxy.failed.Swap(0), state, took.Round(10*time.Millisecond))
	}
}

// ledgerVersions returns the resource versions of the ledger ConfigMaps.
func ledgerVersions(t *testing.T) map[string]string {
	t.Helper()
	list := &corev1.ConfigMapList{}
	if err := signet.Client.List(context.Background(), list, client.InNamespace(signet.Namespace),
		client.MatchingLabels{record.LabelComponent: kube.ComponentLedger}); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, cm := range list.Items {
		out[cm.Name] = cm.ResourceVersion
	}
	return out
}
