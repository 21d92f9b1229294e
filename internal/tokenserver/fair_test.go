package tokenserver

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// TestFairListenerServesHTTP checks that the fairness wrapper is transparent:
// requests and keep-alive connections work through it.
func TestFairListenerServesHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = w.Write([]byte(strings.ToUpper(string(body))))
	})}
	go func() { _ = srv.Serve(FairListener(ln)) }()
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	for i := range 3 {
		resp, err := client.Post("http://"+ln.Addr().String(), "text/plain", strings.NewReader("token"))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "TOKEN" {
			t.Fatalf("request %d: body %q", i, body)
		}
	}
}
