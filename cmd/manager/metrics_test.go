package main

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/signet-iam/signet/internal/testenv"
)

var env *testenv.Environment

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, func(e *testenv.Environment) error { env = e; return nil }))
}

// TestMetricsNeedAuthorisationOffLoopback serves the manager's metrics as
// main configures them, on every interface, against the real API server:
// no token gets 401, a token without "get" on /metrics gets 403, Prometheus's
// token with the chart's metrics-reader rule gets the metrics. On loopback
// nothing is filtered.
func TestMetricsNeedAuthorisationOffLoopback(t *testing.T) {
	if opts := metricsOptions("127.0.0.1:8080"); opts.SecureServing || opts.FilterProvider != nil {
		t.Errorf("loopback metrics are filtered: %+v", opts)
	}
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Everything the test creates has a generated name and is deleted
	// after it, so that it can run any number of times on one API server.
	nsObj, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns := nsObj.Name
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	for _, name := range []string{"prometheus", "nosy"} {
		if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	role, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-reader-"},
		Rules:      []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.RbacV1().ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{}) })
	binding, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-reader-"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "prometheus", Namespace: ns}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})

	opts := metricsOptions(":0")
	if !opts.SecureServing || opts.FilterProvider == nil {
		t.Fatalf("metrics on every interface are not filtered: %+v", opts)
	}
	httpClient, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := metricsserver.NewServer(opts, env.Config, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(sctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("metrics server: %v", err)
		}
	})

	url := "https://127.0.0.1:" + boundPort(t, srv) + "/metrics"
	for _, tc := range []struct {
		who    string
		token  string
		status int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"a token without the right", token(t, cs, ns, "nosy"), http.StatusForbidden},
		{"Prometheus with the metrics reader role", token(t, cs, ns, "prometheus"), http.StatusOK},
	} {
		t.Run(tc.who, func(t *testing.T) {
			if got := scrape(t, url, tc.token); got != tc.status {
				t.Errorf("status %d, want %d", got, tc.status)
			}
		})
	}
}

// boundPort waits until the server listens and returns its port.
func boundPort(t *testing.T, srv metricsserver.Server) string {
	t.Helper()
	bound, ok := srv.(interface{ GetBindAddr() string })
	if !ok {
		t.Fatal("the metrics server does not tell its address")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, port, err := net.SplitHostPort(bound.GetBindAddr()); err == nil && port != "0" {
			return port
		}
		if time.Now().After(deadline) {
			t.Fatal("the metrics server is not listening after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func token(t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// scrape GETs url, retrying while the server is not listening yet, and
// returns the status.
func scrape(t *testing.T, url, token string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the server's certificate is self-signed
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			return resp.StatusCode
		}
		if time.Now().After(deadline) {
			t.Fatalf("scraping %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
