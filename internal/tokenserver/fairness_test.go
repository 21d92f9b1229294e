package tokenserver_test

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/ratelimit"
)

// TestFailureLimitsNeverRefuseACorrectCredential is SECURITY.md 34 over real
// sockets: an attacker sends 1,000 wrong secrets a second for client A from
// 127.0.0.3, while A (with its right secret) and B, both from 127.0.0.3 as
// behind one NAT, ask for tokens all along. Every one of their requests
// gets a token; the attacker gets 429 with Retry-After.
func TestFailureLimitsNeverRefuseACorrectCredential(t *testing.T) {
	limits := ratelimit.DefaultConfig
	h := newHarness(t, func(c *tokenserver.Config) { c.Limits = &limits })
	a := h.secret
	b := h.client(record.TypeClientSecret, "neighbour", []string{"orders:read"}, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h.srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	endpoint := "http://" + ln.Addr().String() + tokenserver.TokenPath

	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 40}}
	}
	shared := from("127.0.0.3")
	ask := func(c *http.Client, id, secret string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, secret)
		resp, err := c.Do(req)
		if err != nil {
			t.Errorf("request failed: %v", err)
			return 0, ""
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}

	// The attack lasts at least 3 s and at least 3,000 wrong secrets: on a
	// busy machine the senders fall behind their ticks, and the count, not
	// the clock, is what loads the limiter.
	const attackFor, attackCount, ceiling = 3 * time.Second, 3000, time.Minute
	stop := make(chan struct{})
	var attacks, limited, limitedWithoutRetryAfter atomic.Int64
	var wg sync.WaitGroup
	// 1,000 failures a second, on a schedule: the n-th goes out n ms after
	// the start, from whichever of 32 senders is free, so that a slow
	// answer on a busy machine delays no other attempt.
	var slot atomic.Int64
	began := time.Now()
	wrong := wrongSecret(h)
	for range 32 {
		wg.Go(func() {
			for {
				at := began.Add(time.Duration(slot.Add(1)) * time.Millisecond)
				select {
				case <-stop:
					return
				case <-time.After(time.Until(at)):
				}
				code, retry := ask(shared, a.ID(), wrong)
				attacks.Add(1)
				if code == http.StatusTooManyRequests {
					limited.Add(1)
					if retry == "" {
						limitedWithoutRetryAfter.Add(1)
					}
				}
			}
		})
	}
	var served, refused atomic.Int64
	for _, c := range []*fixture.Client{a, b} {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if code, _ := ask(shared, c.ID(), c.Secret); code == http.StatusOK {
					served.Add(1)
				} else {
					refused.Add(1)
					t.Errorf("client %s with its right secret got %d while the attack ran", c.ID(), code)
				}
				time.Sleep(5 * time.Millisecond) // a steady client, not a flood
			}
		})
	}
	start := time.Now()
	for (time.Since(start) < attackFor || attacks.Load() < attackCount) && time.Since(start) < ceiling {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()

	t.Logf("attack: %d wrong secrets, %d refused with 429; real clients: %d tokens, %d refused", attacks.Load(), limited.Load(), served.Load(), refused.Load())
	if attacks.Load() < attackCount {
		t.Fatalf("only %d attack requests were sent; the test did not load the limiter", attacks.Load())
	}
	if limited.Load() < attacks.Load()/2 {
		t.Fatalf("only %d of %d wrong secrets were limited", limited.Load(), attacks.Load())
	}
	if limitedWithoutRetryAfter.Load() > 0 {
		t.Fatalf("%d refusals without Retry-After", limitedWithoutRetryAfter.Load())
	}
	if served.Load() < 10 || refused.Load() > 0 {
		t.Fatalf("real clients: %d served, %d refused", served.Load(), refused.Load())
	}
	// The audit log is bounded too: the failures the limits refused left
	// one line per bucket per interval, not one each.
	intervals := int(time.Since(start)/limits.LogInterval) + 1
	if lines := strings.Count(h.logs.String(), `"reason":"rate_limited"`); lines > 4*intervals {
		t.Fatalf("%d audit lines for rate-limited failures over %d log intervals, want a handful", lines, intervals)
	}
}
