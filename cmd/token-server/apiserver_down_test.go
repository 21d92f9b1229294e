package main

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/testutil"
)

// TestServesWhileTheAPIServerIsDown is SECURITY.md item 25 for the token
// server. The server reaches the API server through a proxy that the test
// then cuts, closing every connection and refusing new ones: to the token
// server this is the API server gone, while the other tests keep theirs.
func TestServesWhileTheAPIServerIsDown(t *testing.T) {
	ns, fx := namespace(t, cs)
	cl := newClient(t, fx, record.TypeClientSecret, "steady")
	proxy := newCuttableProxy(t, env.Config.Host)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = proxy.url
	in := start(t, cfg, ns, nil)
	before := in.token(t, cl)
	if before.status != http.StatusOK {
		t.Fatalf("before: %d %s", before.status, before.body)
	}

	proxy.cut()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(get(t, in.probeURL+"/metrics"), "signet_token_server_apiserver_connected 0") {
		if time.Now().After(deadline) {
			t.Fatal("the API server's absence is not reported in the metrics after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	verbose := get(t, in.probeURL+"/readyz?verbose")
	if !strings.Contains(verbose, "[+]apiserver ok (unreachable since") || !strings.Contains(verbose, "readyz check passed") {
		t.Errorf("readyz while the API server is down:\n%s", verbose)
	}
	after := in.token(t, cl)
	if after.status != http.StatusOK {
		t.Fatalf("no token while the API server is down: %d %s", after.status, after.body)
	}
	if !in.active(t, before.json["access_token"].(string), cl) {
		t.Error("introspection stopped working while the API server is down")
	}
	if r := post(t, in.url+"/oauth2/revoke", url.Values{"token": {after.json["access_token"].(string)}}, cl.ID(), cl.Secret); r.status != http.StatusServiceUnavailable {
		t.Errorf("a revocation that cannot be recorded got %d, want 503", r.status)
	}
}

// TestResyncsWhenTheAPIServerReturns: what changed while the token server
// could not reach the API server (a record deleted, a token revoked at
// another replica) holds as soon as it is back. The server replaces its
// informers on the return rather than waiting out their back-off, and
// applies what the new ones no longer list as deleted.
func TestResyncsWhenTheAPIServerReturns(t *testing.T) {
	ns, fx := namespace(t, cs)
	stays := newClient(t, fx, record.TypeClientSecret, "stays")
	goes := newClient(t, fx, record.TypeClientSecret, "goes")
	proxy := newCuttableProxy(t, env.Config.Host)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = proxy.url
	in := start(t, cfg, ns, nil)
	other := start(t, env.Config, ns, nil)
	token := in.token(t, stays).json["access_token"].(string)
	if in.token(t, goes).status != http.StatusOK {
		t.Fatal("no token before the outage")
	}

	proxy.cut()
	testutil.WaitFor(t, 30*time.Second, "the outage is reported", func() error {
		if !strings.Contains(get(t, in.probeURL+"/metrics"), "signet_token_server_apiserver_connected 0") {
			return errors.New("still connected")
		}
		return nil
	})
	if r := post(t, other.url+"/oauth2/revoke", url.Values{"token": {token}}, stays.ID(), stays.Secret); r.status != http.StatusOK {
		t.Fatalf("revoking at the other replica: %d %s", r.status, r.body)
	}
	if err := cs.CoreV1().Secrets(ns).Delete(t.Context(), record.SecretName(goes.ID()), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if !in.active(t, token, stays) || in.token(t, goes).status != http.StatusOK {
		t.Fatal("the cut-off replica saw the changes during the outage: the proxy does not cut")
	}

	proxy.restore()
	testutil.WaitFor(t, 30*time.Second, "the informers are replaced", func() error {
		if !strings.Contains(in.logs.String(), "Informers resynced after the API server returned") {
			return errors.New("not yet")
		}
		return nil
	})
	if in.active(t, token, stays) {
		t.Error("a token revoked during the outage is active after the informers were replaced")
	}
	if r := in.token(t, goes); r.status != http.StatusUnauthorized {
		t.Errorf("a client whose record was deleted during the outage got %d after the informers were replaced", r.status)
	}
	if r := in.token(t, stays); r.status != http.StatusOK {
		t.Errorf("a client untouched by the outage got %d after it: %s", r.status, r.body)
	}
}

// cuttableProxy forwards TCP connections to an address until cut, and
// again once restored.
type cuttableProxy struct {
	url     string
	ln      net.Listener
	mu      sync.Mutex
	conns   []net.Conn
	blocked bool
}

func newCuttableProxy(t *testing.T, target string) *cuttableProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cuttableProxy{url: u.Scheme + "://" + ln.Addr().String(), ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			blocked := p.blocked
			p.mu.Unlock()
			if blocked {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", u.Host)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() { p.cut(); _ = ln.Close() })
	return p
}

// cut closes every connection and refuses new ones until restore.
func (p *cuttableProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *cuttableProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blocked = false
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
