package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// generationSeen remembers when the watch first delivered each generation
// of an object, so that a record's ChangedAt, and with it the latency in
// signet_propagation_seconds, starts at the spec change rather than at the
// reconcile, which a burst of changes can queue for seconds. It holds one
// entry per object, replaced by each new generation and dropped on
// deletion; a manager that restarts starts from the reconcile instead.
type generationSeen struct {
	clock clock.PassiveClock
	mu    sync.Mutex
	seen  map[types.UID]seenAt
}

type seenAt struct {
	generation int64
	at         time.Time
}

// predicate records every event's generation and passes every event.
func (g *generationSeen) predicate() predicate.Predicate {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { g.saw(e.Object); return true },
		UpdateFunc: func(e event.UpdateEvent) bool { g.saw(e.ObjectNew); return true },
		DeleteFunc: func(e event.DeleteEvent) bool { g.forget(e.Object); return true },
	}
}

func (g *generationSeen) saw(o client.Object) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[types.UID]seenAt{}
	}
	if cur, ok := g.seen[o.GetUID()]; !ok || cur.generation != o.GetGeneration() {
		g.seen[o.GetUID()] = seenAt{generation: o.GetGeneration(), at: g.clock.Now()}
	}
}

func (g *generationSeen) forget(o client.Object) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.seen, o.GetUID())
}

// at is when the watch first delivered o's current generation; zero when
// unknown.
func (g *generationSeen) at(o client.Object) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if cur, ok := g.seen[o.GetUID()]; ok && cur.generation == o.GetGeneration() {
		return cur.at
	}
	return time.Time{}
}
