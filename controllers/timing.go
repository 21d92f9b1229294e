package controllers

import (
	"math/rand/v2"
	"time"
)

// requeueAfter is the delay until next, for time-based work (rotation,
// expiry, the end of a grace period). It lands just after next, never
// before, so the reconcile it triggers sees the change as due; a small
// jitter (at most 5% of the delay, capped at ten seconds) spreads the
// reconciles of credentials created together. Zero next means no timed work.
func requeueAfter(now, next time.Time) time.Duration {
	if next.IsZero() {
		return 0
	}
	d := next.Sub(now)
	if d < 0 {
		d = 0
	}
	jitter := min(d/20, 10*time.Second)
	if jitter > 0 {
		jitter = rand.N(jitter)
	}
	return d + 100*time.Millisecond + jitter
}

// earliest returns the earliest non-zero time.
func earliest(times ...time.Time) time.Time {
	var out time.Time
	for _, t := range times {
		if !t.IsZero() && (out.IsZero() || t.Before(out)) {
			out = t
		}
	}
	return out
}

// deref returns *t or the zero time.
func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
