package main

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/signet-iam/signet/internal/record"
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

// cuttableProxy forwards TCP connections to an address until cut.
type cuttableProxy struct {
	url   string
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
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
	t.Cleanup(p.cut)
	return p
}

func (p *cuttableProxy) cut() {
	_ = p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
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
