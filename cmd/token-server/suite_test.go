package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/testenv"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
)

const testIssuer = "https://signet.example.test"

// env is the real API server started in TestMain; cs reaches it as an
// administrator.
var (
	env *testenv.Environment
	cs  kubernetes.Interface
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, func(e *testenv.Environment) (err error) {
		env = e
		cs, err = kubernetes.NewForConfig(env.Config)
		return err
	}))
}

// namespace creates a namespace for one test with the signing and hash key
// Secrets the manager would have written.
func namespace(t *testing.T, c kubernetes.Interface) (string, *fixture.Fixture) {
	t.Helper()
	ns, err := c.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "token-server-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	return namespaceKeysWith(t, c, ns.Name)
}

// namespaceKeys writes the key Secrets into an existing namespace.
func namespaceKeys(t *testing.T, ns string) (string, *fixture.Fixture) {
	return namespaceKeysWith(t, cs, ns)
}

func namespaceKeysWith(t *testing.T, c kubernetes.Interface, ns string) (string, *fixture.Fixture) {
	t.Helper()
	fx, err := fixture.New(ns, signing.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, get := range []func() (*corev1.Secret, error){fx.SigningKeysSecret, fx.HashKeySecret} {
		s, err := get()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.CoreV1().Secrets(ns).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return ns, fx
}

// writeClient creates or updates a client's record Secret.
func writeClient(t *testing.T, c kubernetes.Interface, fx *fixture.Fixture, cl *fixture.Client) {
	t.Helper()
	s, err := fx.RecordSecret(cl)
	if err != nil {
		t.Fatal(err)
	}
	secrets := c.CoreV1().Secrets(fx.Namespace)
	if _, err := secrets.Update(t.Context(), s, metav1.UpdateOptions{}); err == nil {
		return
	}
	if _, err := secrets.Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func newClient(t *testing.T, fx *fixture.Fixture, typ, name string, scopes ...string) *fixture.Client {
	t.Helper()
	cl, err := fx.NewClient(typ, name, append([]string{"orders:read"}, scopes...), nil)
	if err != nil {
		t.Fatal(err)
	}
	writeClient(t, cs, fx, cl)
	return cl
}

// replicaSeq numbers the instances' replica names.
var replicaSeq atomic.Int64

// instance is one running token server.
type instance struct {
	url, probeURL string
	logs          *fixture.Buffer
	stop          func()
}

// start runs the token server's run function, as main does, against cfg,
// on loopback ports chosen by the kernel, and waits until it is ready.
func start(t *testing.T, cfg *rest.Config, ns string, edit func(*options)) *instance {
	t.Helper()
	in := startNoWait(t, cfg, ns, edit)
	waitReady(t, in)
	return in
}

func startNoWait(t *testing.T, cfg *rest.Config, ns string, edit func(*options)) *instance {
	t.Helper()
	// Every instance reports under its own name, as Pods do.
	o := options{namespace: ns, issuer: testIssuer, listen: "127.0.0.1:0", probeListen: "127.0.0.1:0",
		gcInterval: time.Hour, shutdownTimeout: 5 * time.Second, replicaName: fmt.Sprintf("replica-%d", replicaSeq.Add(1))}
	if edit != nil {
		edit(&o)
	}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	logs := &fixture.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, o, cfg, slog.New(slog.NewJSONHandler(logs, nil)), func(m, p net.Addr) { addrs <- [2]net.Addr{m, p} })
	}()
	var in *instance
	select {
	case a := <-addrs:
		scheme := "http"
		if o.tls() {
			scheme = "https"
		}
		in = &instance{url: scheme + "://" + a[0].String(), logs: logs}
		if a[1] != nil {
			in.probeURL = "http://" + a[1].String()
		} else {
			in.probeURL = in.url
		}
	case err := <-done:
		t.Fatalf("the server did not start: %v", err)
	}
	var once sync.Once
	in.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("the server stopped with %v", err)
			}
		})
	}
	t.Cleanup(in.stop)
	return in
}

func waitReady(t *testing.T, in *instance) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(in.probeURL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not ready after 30s; logs:\n%s", in.logs.String())
}

type reply struct {
	status int
	body   string
	json   map[string]any
}

func post(t *testing.T, endpoint string, form url.Values, basic ...string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	r := reply{status: resp.StatusCode, body: string(body)}
	_ = json.Unmarshal(body, &r.json)
	return r
}

func (in *instance) token(t *testing.T, cl *fixture.Client) reply {
	t.Helper()
	return post(t, in.url+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, cl.ID(), cl.Secret)
}

// active introspects token as the client asker.
func (in *instance) active(t *testing.T, token string, asker *fixture.Client) bool {
	t.Helper()
	r := post(t, in.url+"/oauth2/introspect", url.Values{"token": {token}}, asker.ID(), asker.Secret)
	if r.status != http.StatusOK {
		t.Fatalf("introspection: %d %s", r.status, r.body)
	}
	return r.json["active"] == true
}
