package main

import "testing"

// TestWebhookBindAddress: --webhook-bind-address takes host:port with a
// port the webhook server can bind; an empty host binds every interface.
func TestWebhookBindAddress(t *testing.T) {
	for addr, want := range map[string]struct {
		host string
		port int
		ok   bool
	}{
		":9443":          {"", 9443, true},
		"127.0.0.1:9443": {"127.0.0.1", 9443, true},
		"[::1]:443":      {"::1", 443, true},
		"9443":           {ok: false},
		":0":             {ok: false},
		":70000":         {ok: false},
		":https":         {ok: false},
	} {
		host, port, err := splitHostPort(addr)
		if (err == nil) != want.ok || (want.ok && (host != want.host || port != want.port)) {
			t.Errorf("splitHostPort(%q) = %q, %d, %v; want %q, %d, accepted %v", addr, host, port, err, want.host, want.port, want.ok)
		}
	}
}
