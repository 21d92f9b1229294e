// Package ratelimit caps what wrong credentials cost the token server
// (RFC 6819 4.3.5), with token buckets of failed authentications: one per
// source (an IPv4 address, or an IPv6 /64) and one per client_id.
//
// Only failures are counted, and only failures are refused: the server
// checks every credential first, so a correct one is always served, from
// any address, however many wrong ones came from there (SECURITY.md 34).
// With 256-bit secrets online guessing is hopeless anyway (RFC 6819
// 5.1.4.2.2); the limiter exists so that a guesser, or a client stuck with a
// stale secret, gets 429 with Retry-After instead of 401, and so that its
// failures cost one audit line per LogInterval instead of one each.
package ratelimit

import (
	"math"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/utils/lru"
)

// Config sets the bucket sizes and refill rates.
type Config struct {
	// SourceBurst failures are answered normally from one source before
	// its failures are refused with 429, at SourceRate a second after.
	SourceBurst int
	SourceRate  rate.Limit
	// ClientBurst failures against one client_id, from anywhere, before
	// failures against it are refused with 429, at ClientRate after.
	ClientBurst int
	ClientRate  rate.Limit
	// MaxKeys bounds the buckets kept per kind; the least recently used
	// go first. An evicted bucket is as good as a full one.
	MaxKeys int
	// LogInterval: while a bucket is empty, its refused failures leave one
	// audit line per interval, carrying how many were not logged.
	// Default: 10s.
	LogInterval time.Duration
}

// DefaultConfig: 20 failures from one source, then one per second; 10
// failures against one client, then one every two seconds; at most 10,000
// buckets of each kind (about 2 MB).
var DefaultConfig = Config{
	SourceBurst: 20, SourceRate: 1,
	ClientBurst: 10, ClientRate: 0.5,
	MaxKeys: 10000, LogInterval: 10 * time.Second,
}

// Limiter is safe for concurrent use.
type Limiter struct {
	cfg     Config
	mu      sync.Mutex // guards the buckets' bookkeeping
	sources *lru.Cache
	clients *lru.Cache
}

type bucket struct {
	lim        *rate.Limiter
	suppressed int
	lastLogged time.Time
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.LogInterval <= 0 {
		cfg.LogInterval = DefaultConfig.LogInterval
	}
	return &Limiter{cfg: cfg, sources: lru.New(cfg.MaxKeys), clients: lru.New(cfg.MaxKeys)}
}

// Verdict is what to do with one failed authentication.
type Verdict struct {
	// Limited: answer 429 with Retry-After instead of the usual error.
	Limited    bool
	RetryAfter time.Duration
	// Audit: write the audit line for this failure. When false, the
	// failure is only counted, and the next audited one reports it in
	// Suppressed.
	Audit      bool
	Suppressed int
}

// Fail records a failed authentication from source (a peer IP address)
// for clientID (may be empty, or a client_id that does not exist) and says
// how to answer it.
func (l *Limiter) Fail(source, clientID string, now time.Time) Verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	v := Verdict{Audit: true}
	src, srcEmpty := l.take(l.sources, SourceKey(source), l.cfg.SourceRate, l.cfg.SourceBurst, now)
	logged := src // the bucket whose audit lines this failure counts in
	if srcEmpty {
		v.Limited, v.RetryAfter = true, delay(src.lim, now)
	}
	if clientID != "" {
		cl, clEmpty := l.take(l.clients, clientID, l.cfg.ClientRate, l.cfg.ClientBurst, now)
		if clEmpty {
			v.Limited = true
			v.RetryAfter = max(v.RetryAfter, delay(cl.lim, now))
			if !srcEmpty {
				logged = cl
			}
		}
	}
	if v.Limited && now.Sub(logged.lastLogged) < l.cfg.LogInterval {
		logged.suppressed++
		v.Audit = false
		return v
	}
	if v.Limited {
		logged.lastLogged = now
	}
	v.Suppressed, logged.suppressed = logged.suppressed, 0
	return v
}

// take spends one token of key's bucket, and reports whether it was
// empty.
func (l *Limiter) take(c *lru.Cache, key string, r rate.Limit, burst int, now time.Time) (*bucket, bool) {
	var b *bucket
	if v, ok := c.Get(key); ok {
		b = v.(*bucket)
	} else {
		b = &bucket{lim: rate.NewLimiter(r, burst)}
		c.Add(key, b)
	}
	// An empty bucket stays empty: AllowN takes nothing when it refuses, so
	// failures while limited do not push the wait further out.
	return b, !b.lim.AllowN(now, 1)
}

// delay is how long until the bucket holds one token again.
func delay(b *rate.Limiter, now time.Time) time.Duration {
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return time.Second
	}
	secs := (1 - tokens) / float64(b.Limit())
	return max(time.Duration(math.Ceil(secs*float64(time.Second))), time.Second)
}

// SourceKey is the bucket of a peer address: the address itself for IPv4
// (and IPv4-mapped IPv6), its /64 for IPv6, since one host commonly holds
// a whole /64 and could otherwise rotate through addresses at will.
func SourceKey(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	if ip.Is4() {
		return ip.String()
	}
	p, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}
