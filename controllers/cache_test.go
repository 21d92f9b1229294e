package controllers

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/testenv"
)

// TestCacheHoldsOnlySignetSecrets is SECURITY.md 26 for the manager's
// memory: with the cache options the manager runs with, unlabelled 1 MB
// Secrets next to a Signet Secret are neither in the cache nor downloaded
// at all: the informer's list and watch read less than one of them. The
// Signet Secret is cached without its managedFields.
func TestCacheHoldsOnlySignetSecrets(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t, "cache-")
	const big, mb = 4, 1_000_000
	for i := range big {
		g.Expect(k8s.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "unrelated-"},
			Data:       map[string][]byte{"blob": []byte(strings.Repeat(string(rune('a'+i)), mb))},
		})).To(Succeed())
	}
	ours := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ours",
		Labels: map[string]string{record.LabelComponent: record.ComponentWorkloadSecret}}}
	g.Expect(k8s.Create(ctx, ours)).To(Succeed())

	var read atomic.Int64
	cfg := rest.CopyConfig(env.Config)
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return &countingTransport{rt: rt, n: &read} }
	opts := CacheOptions(ns)
	opts.Scheme = testenv.Scheme()
	opts.DefaultNamespaces = map[string]cache.Config{ns: {}}
	c, err := cache.New(cfg, opts)
	g.Expect(err).NotTo(HaveOccurred())
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = c.Start(cctx) }()
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	_, err = c.GetInformer(wctx, &corev1.Secret{})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(c.WaitForCacheSync(wctx)).To(BeTrue())

	var list corev1.SecretList
	g.Eventually(func(g Gomega) {
		g.Expect(c.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(1))
		g.Expect(list.Items[0].Name).To(Equal("ours"))
	}).Should(Succeed())
	g.Expect(ours.ManagedFields).NotTo(BeEmpty(), "the API server records who wrote the Secret")
	g.Expect(list.Items[0].ManagedFields).To(BeEmpty(), "the cache keeps managedFields")
	g.Expect(read.Load()).To(BeNumerically("<", mb), "the informer downloaded unrelated Secrets")
	t.Logf("the Secret informer read %d bytes with %d unrelated 1 MB Secrets in the namespace", read.Load(), big)
}

// countingTransport adds the bytes of every response body to n.
type countingTransport struct {
	rt http.RoundTripper
	n  *atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.rt.RoundTrip(r)
	if err == nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: c.n}
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n.Add(int64(n))
	return n, err
}
