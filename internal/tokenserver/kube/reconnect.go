package kube

import (
	"context"
	"errors"
	"net"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// ReconnectInterval is how often a list or watch is retried while the API
// server cannot be reached at all.
//
// Why not leave it to client-go: a reflector whose list or watch fails
// waits out an exponential back-off that reaches 30 s, and up to 60 s with
// its jitter, after an outage of a minute. That protects an API server
// from thousands of clients, and it is right while the server answers but
// struggles (429, 503: those still get the reflector's back-off). A server
// that refuses or drops connections is not there to protect, and a
// token-server replica that learns of a revocation a minute after the
// server's return breaks Signet's promise (SECURITY.md 18). So while the
// server is unreachable the call itself waits, retrying at this pace, and
// the reflector never sees the failure nor backs off; once the server
// answers, the list or watch proceeds within this interval.
const ReconnectInterval = 500 * time.Millisecond

// listWatch lists and watches one kind in the namespace, with a label
// selector, as an informer factory would, but waiting for an unreachable
// API server (ReconnectInterval).
func (w *Watcher) listWatch(selector string, list func(context.Context, metav1.ListOptions) (runtime.Object, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error)) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return untilReachable(ctx, w.markUnreachable, func() (runtime.Object, error) { return list(ctx, o) })
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return untilReachable(ctx, w.markUnreachable, func() (watch.Interface, error) { return watchFn(ctx, o) })
		},
	}
}

func (w *Watcher) markUnreachable() { w.setConnected(false) }

// untilReachable calls call until it succeeds, fails for another reason
// than an unreachable API server, or ctx ends; down is told of each
// failure to connect.
func untilReachable[T any](ctx context.Context, down func(), call func() (T, error)) (T, error) {
	for {
		v, err := call()
		if err == nil || !unreachable(err) || ctx.Err() != nil {
			return v, err
		}
		down()
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(ReconnectInterval):
		}
	}
}

// unreachable reports whether err says the API server could not be
// reached, as opposed to an answer from it.
func unreachable(err error) bool {
	var ne net.Error
	return utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err) ||
		(errors.As(err, &ne) && ne.Timeout())
}
