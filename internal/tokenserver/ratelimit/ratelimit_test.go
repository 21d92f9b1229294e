package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	cfg := Config{SourceBurst: 3, SourceRate: 1, ClientBurst: 2, ClientRate: 0.5, MaxKeys: 100, LogInterval: 10 * time.Second}
	t0 := time.Unix(1_800_000_000, 0)
	t.Run("a source's failures are limited after its burst and freed by the refill", func(t *testing.T) {
		l := New(cfg)
		for i := range 3 {
			if v := l.Fail("192.0.2.1", "", t0); v.Limited || !v.Audit {
				t.Fatalf("failure %d within the burst: %+v", i, v)
			}
		}
		v := l.Fail("192.0.2.1", "", t0)
		if !v.Limited || v.RetryAfter < time.Second || v.RetryAfter > 2*time.Second {
			t.Fatalf("after the burst: %+v", v)
		}
		if v := l.Fail("192.0.2.1", "", t0.Add(v.RetryAfter)); v.Limited {
			t.Fatalf("not freed after the advertised wait: %+v", v)
		}
		if v := l.Fail("192.0.2.2", "", t0); v.Limited {
			t.Fatal("another source was limited")
		}
	})
	t.Run("a client's failures are limited from every source", func(t *testing.T) {
		l := New(cfg)
		l.Fail("192.0.2.1", "c", t0)
		l.Fail("192.0.2.2", "c", t0)
		if v := l.Fail("192.0.2.3", "c", t0); !v.Limited {
			t.Fatal("failures against an exhausted client were not limited")
		}
		if v := l.Fail("192.0.2.3", "d", t0); v.Limited {
			t.Fatal("another client was limited")
		}
	})
	t.Run("limited failures leave one audit line per interval, counting the others", func(t *testing.T) {
		l := New(cfg)
		audited, suppressed := 0, 0
		for i := range 1000 {
			v := l.Fail("192.0.2.9", "", t0.Add(time.Duration(i)*time.Millisecond)) // one second of failures
			if v.Audit {
				audited++
				suppressed += v.Suppressed
			}
		}
		if audited != 3+1 {
			t.Fatalf("%d audit lines for 1,000 failures in a second, want the burst (3) plus one", audited)
		}
		v := l.Fail("192.0.2.9", "", t0.Add(11*time.Second))
		if !v.Audit || v.Suppressed+suppressed != 1000-4 {
			t.Fatalf("the next audited failure reports %d suppressed, want %d", v.Suppressed, 1000-4)
		}
	})
	t.Run("IPv6 sources share a bucket per /64; IPv4-mapped addresses are IPv4", func(t *testing.T) {
		for addr, want := range map[string]string{
			"2001:db8:1:2:aaaa::1":    "2001:db8:1:2::/64",
			"2001:db8:1:2:ffff::ffff": "2001:db8:1:2::/64",
			"2001:db8:1:3::1":         "2001:db8:1:3::/64",
			"::ffff:192.0.2.7":        "192.0.2.7",
			"192.0.2.7":               "192.0.2.7",
			"fe80::1%eth0":            "fe80::/64",
		} {
			if got := SourceKey(addr); got != want {
				t.Errorf("SourceKey(%q) = %q, want %q", addr, got, want)
			}
		}
		l := New(cfg)
		for i := range 3 {
			l.Fail(fmt.Sprintf("2001:db8::%x", i+1), "", t0)
		}
		if v := l.Fail("2001:db8::ffff:1", "", t0); !v.Limited {
			t.Fatal("a fourth address of the same /64 was not limited")
		}
	})
	t.Run("memory is bounded", func(t *testing.T) {
		l := New(Config{SourceBurst: 1, SourceRate: 1, ClientBurst: 1, ClientRate: 1, MaxKeys: 10})
		for i := range 1000 {
			l.Fail(fmt.Sprint("src", i), fmt.Sprint("client", i), t0)
		}
		if l.sources.Len() > 10 || l.clients.Len() > 10 {
			t.Fatalf("%d sources and %d clients kept", l.sources.Len(), l.clients.Len())
		}
	})
}
