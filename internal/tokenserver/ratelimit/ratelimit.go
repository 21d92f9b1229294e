// Package ratelimit slows online guessing (RFC 6819 4.3.5) with token
// buckets of failed authentications, one per source address and one per
// client_id. Only failures take tokens, so a client that authenticates
// correctly never spends any.
//
// A client's bucket only stops sources that have themselves failed
// recently: an attacker who hammers one client_id empties that client's
// bucket, but the real client, calling from an address with no recent
// failure, is let through. So the attacker is slowed to the refill rate
// and the real client is not locked out.
package ratelimit

import (
	"math"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/utils/lru"
)

// Config sets the bucket sizes and refill rates.
type Config struct {
	// SourceBurst failures are allowed from one address before it is slowed
	// to SourceRate failures per second.
	SourceBurst int
	SourceRate  rate.Limit
	// ClientBurst failures are allowed against one client_id before
	// sources with failures of their own are slowed to ClientRate.
	ClientBurst int
	ClientRate  rate.Limit
	// MaxKeys bounds the buckets kept per kind; the least recently used
	// go first. An evicted bucket is as good as a full one.
	MaxKeys int
}

// DefaultConfig: 20 failures from one address, then one per second; 10
// failures against one client, then one every two seconds; at most 10,000
// buckets of each kind (about 2 MB).
var DefaultConfig = Config{
	SourceBurst: 20, SourceRate: 1,
	ClientBurst: 10, ClientRate: 0.5,
	MaxKeys: 10000,
}

// Limiter is safe for concurrent use.
type Limiter struct {
	cfg     Config
	sources *lru.Cache
	clients *lru.Cache
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	return &Limiter{cfg: cfg, sources: lru.New(cfg.MaxKeys), clients: lru.New(cfg.MaxKeys)}
}

// Allow reports whether a request from source for clientID (may be empty)
// may try to authenticate at now, and if not, how long to wait.
func (l *Limiter) Allow(source, clientID string, now time.Time) (bool, time.Duration) {
	src := bucket(l.sources, source)
	if src == nil {
		// A source without recent failures is never stopped.
		return true, 0
	}
	if wait := delay(src, now); wait > 0 {
		return false, wait
	}
	if clientID == "" || src.TokensAt(now) >= float64(l.cfg.SourceBurst) {
		return true, 0
	}
	if cl := bucket(l.clients, clientID); cl != nil {
		if wait := delay(cl, now); wait > 0 {
			return false, wait
		}
	}
	return true, 0
}

// Fail records a failed authentication from source for clientID.
func (l *Limiter) Fail(source, clientID string, now time.Time) {
	take(l.sources, source, l.cfg.SourceRate, l.cfg.SourceBurst, now)
	if clientID != "" {
		take(l.clients, clientID, l.cfg.ClientRate, l.cfg.ClientBurst, now)
	}
}

func bucket(c *lru.Cache, key string) *rate.Limiter {
	v, ok := c.Get(key)
	if !ok {
		return nil
	}
	return v.(*rate.Limiter)
}

func take(c *lru.Cache, key string, r rate.Limit, burst int, now time.Time) {
	b := bucket(c, key)
	if b == nil {
		b = rate.NewLimiter(r, burst)
		c.Add(key, b)
	}
	// An empty bucket stays empty: AllowN takes nothing when it refuses, so
	// failures while limited do not push the wait further out.
	b.AllowN(now, 1)
}

// delay is how long until the bucket holds one token again.
func delay(b *rate.Limiter, now time.Time) time.Duration {
	tokens := b.TokensAt(now)
	if tokens >= 1 {
		return 0
	}
	secs := (1 - tokens) / float64(b.Limit())
	return time.Duration(math.Ceil(secs * float64(time.Second)))
}
