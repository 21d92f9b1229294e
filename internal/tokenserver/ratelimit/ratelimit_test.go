package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	cfg := Config{SourceBurst: 3, SourceRate: 1, ClientBurst: 2, ClientRate: 0.5, MaxKeys: 100}
	t0 := time.Unix(1_800_000_000, 0)
	t.Run("successes cost nothing and a clean source is never stopped", func(t *testing.T) {
		l := New(cfg)
		for i := range 100 {
			if ok, _ := l.Allow("a", "c", t0.Add(time.Duration(i))); !ok {
				t.Fatal("a source without failures was limited")
			}
		}
	})
	t.Run("a source is stopped after its burst and freed by the refill", func(t *testing.T) {
		l := New(cfg)
		for range 3 {
			l.Fail("a", "", t0)
		}
		ok, wait := l.Allow("a", "", t0)
		if ok || wait <= 0 || wait > time.Second {
			t.Fatalf("after the burst: ok %v wait %v", ok, wait)
		}
		if ok, _ := l.Allow("a", "", t0.Add(wait)); !ok {
			t.Fatal("not freed after the advertised wait")
		}
	})
	t.Run("a client's bucket stops only sources that failed themselves", func(t *testing.T) {
		l := New(cfg)
		l.Fail("x", "c", t0)
		l.Fail("y", "c", t0)
		if ok, _ := l.Allow("y", "c", t0); ok {
			t.Fatal("a failing source was let through an empty client bucket")
		}
		if ok, _ := l.Allow("z", "c", t0); !ok {
			t.Fatal("a clean source was locked out of its client")
		}
		if ok, wait := l.Allow("y", "c", t0.Add(2*time.Second)); !ok {
			t.Fatalf("the client bucket did not refill (wait %v)", wait)
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
