// Package kube connects the token server to the API server, in its own
// namespace only: informers that feed the index from labelled Secrets and
// the clients' ledger ConfigMaps (used assertion jtis, revoked tokens), and
// their garbage collection by one elected replica.
package kube

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/index"
)

// SecretSelector selects the Secrets the token server reads; nothing else
// in the namespace is cached.
var SecretSelector = record.LabelComponent + " in (" + record.ComponentCredentialRecord + "," +
	record.ComponentSigningKeys + "," + record.ComponentHashKey + ")"

// RevokedSelector selects the ConfigMaps that revoke tokens: the clients'
// ledgers, and per-token revocations written by earlier versions, which are
// honoured until garbage collection removes them.
var RevokedSelector = record.LabelComponent + " in (" + ComponentLedger + "," + record.ComponentRevokedToken + ")"

// ProbeInterval is how often the connection to the API server is checked
// while it is up; while it is down, every ReconnectProbeInterval, so that
// its return is seen at once.
const (
	ProbeInterval          = 3 * time.Second
	ReconnectProbeInterval = time.Second
)

// Watcher keeps an index in step with the namespace.
//
// When the API server returns after an outage, the Watcher replaces its
// informers rather than waiting for them: client-go's reflectors back off
// after each failed list or watch (up to 30 s, not settable through a
// SharedInformerFactory), so a change made just after the return, such as
// a revocation, could wait that long. A new pair of informers lists at
// once; the old pair serves until the new one has synced, and whatever it
// held that the new one does not was deleted during the outage.
type Watcher struct {
	client    kubernetes.Interface
	namespace string
	index     *index.Index
	log       *slog.Logger

	feed        atomic.Pointer[feed] // the synced informers in use
	everSynced  atomic.Bool
	reconnected chan struct{}

	mu        sync.Mutex
	connected bool
	changed   time.Time
	lastSync  time.Time
	onChange  func(connected bool)
}

// feed is one generation of the two informers and their event handlers.
type feed struct {
	secrets, revoked cache.SharedIndexInformer
	regs             []cache.ResourceEventHandlerRegistration
	cancel           context.CancelFunc
	done             chan struct{} // closed once both informers stopped
}

// synced reports whether both informers listed and their handlers saw it.
func (f *feed) synced() bool {
	for _, r := range f.regs {
		if !r.HasSynced() {
			return false
		}
	}
	return len(f.regs) == 2
}

// stop stops the informers and waits until no handler runs any more.
func (f *feed) stop() {
	f.cancel()
	<-f.done
}

// NewWatcher returns a Watcher; Start runs it.
func NewWatcher(client kubernetes.Interface, namespace string, idx *index.Index, log *slog.Logger) *Watcher {
	return &Watcher{client: client, namespace: namespace, index: idx, log: log, reconnected: make(chan struct{}, 1)}
}

func (w *Watcher) informer(selector string, pick func(informers.SharedInformerFactory) cache.SharedIndexInformer) cache.SharedIndexInformer {
	f := informers.NewSharedInformerFactoryWithOptions(w.client, 0,
		informers.WithNamespace(w.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	inf := pick(f)
	// The cache holds every record of the namespace; managed fields are
	// a few hundred bytes of each that nothing here reads.
	_ = inf.SetTransform(dropManagedFields)
	// Without this, a failed watch is only logged by client-go; here it
	// also marks the connection down at once, before the next probe. An
	// expired resource version is routine: the reflector lists again.
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		if ctx.Err() != nil {
			return // these informers are being replaced or the server stops
		}
		cache.DefaultWatchErrorHandler(ctx, r, err)
		if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			w.setConnected(false)
		}
	})
	return inf
}

// startFeed builds and runs a new pair of informers feeding the index.
func (w *Watcher) startFeed(ctx context.Context) (*feed, error) {
	f := &feed{done: make(chan struct{})}
	f.secrets = w.informer(SecretSelector, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().Secrets().Informer()
	})
	f.revoked = w.informer(RevokedSelector, func(f informers.SharedInformerFactory) cache.SharedIndexInformer {
		return f.Core().V1().ConfigMaps().Informer()
	})
	for inf, h := range map[cache.SharedIndexInformer]cache.ResourceEventHandler{
		f.secrets: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { w.applySecret(obj) },
			UpdateFunc: func(_, obj any) { w.applySecret(obj) },
			DeleteFunc: w.deleteSecret,
		},
		f.revoked: cache.ResourceEventHandlerFuncs{
			AddFunc:    w.applyRevoked,
			UpdateFunc: func(_, obj any) { w.applyRevoked(obj) },
			DeleteFunc: w.deleteRevoked,
		},
	} {
		reg, err := inf.AddEventHandler(h)
		if err != nil {
			return nil, err
		}
		f.regs = append(f.regs, reg)
	}
	fctx, cancel := context.WithCancel(ctx)
	f.cancel = cancel
	var wg sync.WaitGroup
	for _, inf := range []cache.SharedIndexInformer{f.secrets, f.revoked} {
		wg.Go(func() { inf.RunWithContext(fctx) })
	}
	go func() { wg.Wait(); close(f.done) }()
	return f, nil
}

// OnConnectionChange registers a function called when the API server
// becomes reachable or unreachable. Call before Start.
func (w *Watcher) OnConnectionChange(f func(connected bool)) { w.onChange = f }

// Start runs the informers and the connection probe until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	f, err := w.startFeed(ctx)
	if err != nil {
		return err
	}
	w.feed.Store(f)
	go w.probe(ctx)
	go w.renew(ctx)
	return nil
}

// Synced reports whether the informers completed their first list. It
// stays true while informers are replaced: the index keeps serving.
func (w *Watcher) Synced() bool {
	if w.everSynced.Load() {
		return true
	}
	if w.feed.Load().synced() {
		w.everSynced.Store(true)
		return true
	}
	return false
}

// renew replaces the informers each time the API server returns.
func (w *Watcher) renew(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.reconnected:
		}
		if err := w.replaceFeed(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("Replacing the informers after the API server returned", "error", err.Error())
		}
	}
}

// replaceFeed stops the informers in use, starts a new pair, and once it
// has synced applies what the old pair held and the new one does not as
// deletions. The old pair stops first, so no late event of it can undo
// what the new one applied. Another return of the API server before the
// new pair synced starts over.
func (w *Watcher) replaceFeed(ctx context.Context) error {
	old := w.feed.Load()
	old.stop()
	for {
		next, err := w.startFeed(ctx)
		if err != nil {
			return err
		}
		if w.waitSynced(ctx, next) {
			w.deleteMissing(old.secrets.GetStore(), next.secrets.GetStore(), w.deleteSecret)
			w.deleteMissing(old.revoked.GetStore(), next.revoked.GetStore(), w.deleteRevoked)
			w.feed.Store(next)
			w.log.Info("Informers resynced after the API server returned")
			return nil
		}
		next.stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// waitSynced waits until f synced (true), or until ctx ends or the API
// server returns again (false).
func (w *Watcher) waitSynced(ctx context.Context, f *feed) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !f.synced() {
		select {
		case <-ctx.Done():
			return false
		case <-w.reconnected:
			return false
		case <-t.C:
		}
	}
	return true
}

// deleteMissing calls del with each object of old that next lacks.
func (w *Watcher) deleteMissing(old, next cache.Store, del func(any)) {
	for _, obj := range old.List() {
		if _, ok, _ := next.Get(obj); !ok {
			del(obj)
		}
	}
}

// Connection reports whether the API server answered the last probe, since
// when that has been so, and when it last answered.
func (w *Watcher) Connection() (connected bool, since, lastContact time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.connected, w.changed, w.lastSync
}

func (w *Watcher) setConnected(ok bool) {
	w.mu.Lock()
	now := time.Now()
	if ok {
		w.lastSync = now
	}
	returned := ok && !w.connected && !w.changed.IsZero()
	flipped := ok != w.connected || w.changed.IsZero()
	if flipped {
		w.connected, w.changed = ok, now
	}
	notify := w.onChange
	w.mu.Unlock()
	if !flipped {
		return
	}
	if ok {
		w.log.Info("API server reachable")
	} else {
		w.log.Warn("API server unreachable; serving from the cached index")
	}
	if returned {
		select {
		case w.reconnected <- struct{}{}:
		default:
		}
	}
	if notify != nil {
		notify(ok)
	}
}

// probe lists one revoked-token ConfigMap: an authorised, cheap request that
// proves both reachability and that the token server's own RBAC still
// works.
func (w *Watcher) probe(ctx context.Context) {
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := w.client.CoreV1().ConfigMaps(w.namespace).List(pctx, metav1.ListOptions{LabelSelector: RevokedSelector, Limit: 1})
		cancel()
		if ctx.Err() != nil {
			return
		}
		w.setConnected(err == nil)
		next := ProbeInterval
		if err != nil {
			next = ReconnectProbeInterval
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

func (w *Watcher) applySecret(obj any) {
	s, ok := obj.(*corev1.Secret)
	if !ok {
		return
	}
	if err := w.index.ApplySecret(s); err != nil && !errors.Is(err, index.ErrIgnored) {
		// The error text comes from the record and signing packages,
		// which never include Secret contents.
		w.log.Error("Ignoring a Secret that does not parse", "secret", s.Name, "error", err.Error())
	}
}

func (w *Watcher) deleteSecret(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if s, ok := obj.(*corev1.Secret); ok {
		w.index.DeleteSecret(s)
	}
}

// CachedLedger returns the informer's copy of a ledger ConfigMap, or nil.
func (w *Watcher) CachedLedger(name string) *corev1.ConfigMap {
	obj, ok, err := w.feed.Load().revoked.GetStore().GetByKey(w.namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	cm, _ := obj.(*corev1.ConfigMap)
	return cm
}

func (w *Watcher) applyRevoked(obj any) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	if cm.Labels[record.LabelComponent] == ComponentLedger {
		st := DecodeLedger(cm)
		if st.ClientID == "" {
			w.log.Error("Ignoring a ledger without a client_id", "configMap", cm.Name)
			return
		}
		w.index.ApplyLedger(st.ClientID, st.Revoked, st.NotBefore)
		return
	}
	exp, err := time.Parse(time.RFC3339, cm.Annotations[record.AnnotationExpiresAt])
	if err != nil || cm.Data[dataJTI] == "" {
		w.log.Error("Ignoring a malformed revoked-token ConfigMap", "configMap", cm.Name)
		return
	}
	w.index.Revoke(cm.Data[dataJTI], exp)
}

func (w *Watcher) deleteRevoked(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	if id := cm.Data[dataClientID]; cm.Labels[record.LabelComponent] == ComponentLedger && id != "" {
		w.index.ForgetLedger(id, time.Now())
		return
	}
	if cm.Data[dataJTI] == "" {
		return
	}
	// Garbage collection deletes a revocation only after the token expired.
	// One deleted earlier, by hand, stays revoked here until then.
	exp, err := time.Parse(time.RFC3339, cm.Annotations[record.AnnotationExpiresAt])
	if err == nil && time.Now().Before(exp) {
		return
	}
	w.index.Unrevoke(cm.Data[dataJTI])
}

// dropManagedFields is an informer transform: objects are cached without
// their managed fields. Tombstones pass through unchanged.
func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
