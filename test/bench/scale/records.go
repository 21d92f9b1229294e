package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
)

var httpClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}

// post sends a form, with Basic credentials when id is set, and returns
// the status and body.
func post(endpoint string, form url.Values, id, secret string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

var clientCredentials = url.Values{"grant_type": {"client_credentials"}}

// records loads cfg.records credential records, times the token server's
// cold start to Ready, reads its memory, and times record changes under
// churn until the token endpoint honours them.
func (b *bench) records() error {
	const ns = "scale-records"
	fx, err := b.namespace(ns)
	if err != nil {
		return err
	}
	n := b.cfg.records
	db0, inUse0, _ := b.etcdMetrics()
	fmt.Printf("Writing %d credential records through the API server\n", n)
	clients := make([]*fixture.Client, n)
	start := time.Now()
	err = b.writeClients(fx, ns, clients, 32, func(i int) (*fixture.Client, error) {
		return fx.NewClient(record.TypeClientSecret, fmt.Sprintf("app-%07d", i), []string{"orders:read", "orders:write"}, []string{"https://orders.example.com"})
	})
	if err != nil {
		return err
	}
	b.report("records.count", n, "Wrote %d records in %.1fs (%.0f/s)", n, time.Since(start).Seconds(), float64(n)/time.Since(start).Seconds())
	db, inUse, keys := b.etcdMetrics()
	b.report("records.etcdBytes", db, "etcd: database %.1f MB (%.1f MB in use), %.0f keys; %.0f bytes in use per record",
		db/1e6, inUse/1e6, keys, (inUse-inUse0)/float64(n))
	b.results["records.etcdBytesBefore"] = db0

	ts, err := b.startTokenServer(ns)
	if err != nil {
		return err
	}
	defer ts.stop()
	if err := ts.waitReady(5 * time.Minute); err != nil {
		return err
	}
	pid := ts.cmd.Process.Pid
	cold := ts.readyAt.Sub(ts.started)
	b.report("records.coldStartSeconds", cold.Seconds(), "Cold start to Ready with %d records: %.2fs (target ≤ 15 s)", n, cold.Seconds())
	// A record from the end of the list works: the index is complete.
	if code, body, err := post(ts.url+"/oauth2/token", clientCredentials, clients[n-1].ID(), clients[n-1].Secret); err != nil || code != http.StatusOK {
		return fmt.Errorf("the last record's client gets %d %s (%w)", code, body, err)
	}
	b.report("records.rssMB", memMB(pid, "VmRSS"), "Token server RSS after Ready: %.1f MB (peak %.1f MB), %.0f bytes per record",
		memMB(pid, "VmRSS"), memMB(pid, "VmHWM"), memMB(pid, "VmRSS")*(1<<20)/float64(n))
	b.results["records.peakRSSMB"] = memMB(pid, "VmHWM")
	return b.churn(ts, fx, clients)
}

// churn changes records at cfg.churnRate a second for cfg.churnFor: each
// change rotates one client's secret without grace, and is timed from the
// start of its write until the token endpoint accepts the new secret.
func (b *bench) churn(ts *tokenServer, fx *fixture.Fixture, clients []*fixture.Client) error {
	rate, n := b.cfg.churnRate, int(b.cfg.churnFor.Seconds()*float64(b.cfg.churnRate))
	fmt.Printf("Churn: %d record changes a second for %v\n", rate, b.cfg.churnFor)
	meter := newCPUMeter(b.processes(ts))
	var (
		mu       sync.Mutex
		lat      []time.Duration
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := range n {
		<-tick.C
		// Consecutive changes touch clients far apart; none is changed
		// twice while a change of it is still being timed.
		c := clients[(i*7919)%len(clients)]
		wg.Go(func() {
			d, err := b.change(ts, fx, c)
			if err != nil {
				failures.Add(1)
				fmt.Println("  change failed:", err)
				return
			}
			mu.Lock()
			lat = append(lat, d)
			mu.Unlock()
		})
	}
	wg.Wait()
	cpu := meter.done(n, "change")
	p50, p99, maxD := percentiles(lat)
	over := 0
	for _, d := range lat {
		if d > time.Second {
			over++
		}
	}
	b.results["churn.cpuCores"] = cpu
	b.report("churn.p99Seconds", p99.Seconds(), "%d changes: live after p50 %v, p99 %v, max %v; %d over 1 s, %d failed (target: p99 ≤ 1 s)",
		len(lat), p50.Round(time.Millisecond), p99.Round(time.Millisecond), maxD.Round(time.Millisecond), over, failures.Load())
	b.results["churn.p50Seconds"], b.results["churn.maxSeconds"] = p50.Seconds(), maxD.Seconds()
	pid := ts.cmd.Process.Pid
	b.report("churn.rssMB", memMB(pid, "VmRSS"), "Token server RSS after the churn: %.1f MB (peak %.1f MB)", memMB(pid, "VmRSS"), memMB(pid, "VmHWM"))
	if failures.Load() > 0 {
		return fmt.Errorf("%d changes failed", failures.Load())
	}
	return nil
}

// change rotates c's secret and polls the token endpoint with the new one
// every 10 ms until it is accepted.
func (b *bench) change(ts *tokenServer, fx *fixture.Fixture, c *fixture.Client) (time.Duration, error) {
	start := time.Now()
	if err := fx.RotateSecret(c, nil); err != nil {
		return 0, err
	}
	s, err := fx.RecordSecret(c)
	if err != nil {
		return 0, err
	}
	// Without a resourceVersion the update is unconditional, as the
	// manager's server-side apply is.
	if _, err := b.cs.CoreV1().Secrets(fx.Namespace).Update(b.ctx, s, metav1.UpdateOptions{}); err != nil {
		return 0, err
	}
	for time.Since(start) < 30*time.Second {
		code, _, err := post(ts.url+"/oauth2/token", clientCredentials, c.ID(), c.Secret)
		if err == nil && code == http.StatusOK {
			return time.Since(start), nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("the new secret of %s was not accepted within 30 s", c.ID())
}
