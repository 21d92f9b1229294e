package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-iam/signet/internal/record"
)

func TestOptions(t *testing.T) {
	cases := map[string]struct {
		edit func(*options)
		ok   bool
	}{
		"loopback without TLS is allowed":            {func(o *options) {}, true},
		"IPv6 loopback without TLS is allowed":       {func(o *options) { o.listen = "[::1]:8080" }, true},
		"localhost without TLS is allowed":           {func(o *options) { o.listen = "localhost:8080" }, true},
		"all interfaces without TLS are refused":     {func(o *options) { o.listen = ":8080" }, false},
		"a routable address without TLS is refused":  {func(o *options) { o.listen = "10.0.0.1:8080" }, false},
		"a routable address with TLS is allowed":     {func(o *options) { o.listen, o.tlsCertFile, o.tlsKeyFile = ":8443", "c", "k" }, true},
		"a certificate without its key is refused":   {func(o *options) { o.tlsCertFile = "c" }, false},
		"a missing issuer is refused":                {func(o *options) { o.issuer = "" }, false},
		"a relative issuer is refused":               {func(o *options) { o.issuer = "/signet" }, false},
		"an issuer with a query is refused":          {func(o *options) { o.issuer = "https://x/?a=b" }, false},
		"an empty namespace is refused":              {func(o *options) { o.namespace = "" }, false},
		"the report flags' defaults are allowed":     {func(o *options) { o.reportInterval, o.reportTimeout = time.Second, 15*time.Second }, true},
		"a report timeout under a second is refused": {func(o *options) { o.reportTimeout = 500 * time.Millisecond }, false},
		"a report timeout over 5m is refused":        {func(o *options) { o.reportTimeout = 10 * time.Minute }, false},
		"a report timeout under two intervals is refused": {func(o *options) {
			o.reportInterval, o.reportTimeout = 5*time.Second, 8*time.Second
		}, false},
		"a negative report interval is refused": {func(o *options) { o.reportInterval = -time.Second }, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			o := options{namespace: "signet-system", issuer: testIssuer, listen: "127.0.0.1:8080"}
			tc.edit(&o)
			if err := o.validate(); (err == nil) != tc.ok {
				t.Fatalf("validate: %v", err)
			}
		})
	}
}

// TestReadinessWaitsForKeys: /readyz fails and tokens are refused with 503
// until the signing and hash keys exist; then both work.
func TestReadinessWaitsForKeys(t *testing.T) {
	ns, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "token-server-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	in := startNoWait(t, env.Config, ns.Name, func(o *options) { o.probeListen = "" })
	// Once the index has synced, only the missing keys keep it unready.
	var (
		status int
		body   []byte
	)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(string(body), "[+]index-synced ok"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the index never synced: %d %s", status, body)
		}
		resp, err := http.Get(in.probeURL + "/readyz?verbose")
		if err != nil {
			continue // not listening yet
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
	}
	if status != http.StatusServiceUnavailable || !strings.Contains(string(body), "[-]signing-key") {
		t.Fatalf("without keys: %d %s", status, body)
	}
	r := post(t, in.url+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "sgc_aaaaaaaaaaaaaaaaaaaaaaaaaa", "sgs_x")
	if r.status != http.StatusServiceUnavailable && r.status != http.StatusUnauthorized {
		t.Fatalf("a token request without keys got %d", r.status)
	}
	_, fx := namespaceKeys(t, ns.Name)
	waitReady(t, in)
	cl := newClient(t, fx, record.TypeClientSecret, "late")
	// How soon is measured by make chaos; here a deadline only catches a
	// record that is never served.
	deadline := time.Now().Add(10 * time.Second)
	for in.token(t, cl).status != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("no token 10 s after the record was written")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTLSCertificateReload: the server serves the mounted certificate and
// picks up a new one written over the files, without a restart.
func TestTLSCertificateReload(t *testing.T) {
	ns, _ := namespace(t, cs)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	writeCert(t, certFile, keyFile, 1)
	in := start(t, env.Config, ns, func(o *options) { o.tlsCertFile, o.tlsKeyFile = certFile, keyFile })
	if !strings.HasPrefix(in.url, "https://") {
		t.Fatal("not serving TLS")
	}
	serial := func() int64 {
		conn, err := tls.Dial("tcp", strings.TrimPrefix(in.url, "https://"), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // reading the served certificate only
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	if s := serial(); s != 1 {
		t.Fatalf("serving serial %d, want 1", s)
	}
	writeCert(t, certFile, keyFile, 2)
	deadline := time.Now().Add(20 * time.Second)
	for serial() != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the new certificate was not picked up within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func writeCert(t *testing.T, certFile, keyFile string, serial int64) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "signet.example.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	// Key first: the watcher reloads on the certificate's change and must
	// find a matching key.
	if err := os.WriteFile(keyFile+".tmp", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile+".tmp", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(keyFile+".tmp", keyFile); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(certFile+".tmp", certFile); err != nil {
		t.Fatal(err)
	}
}
