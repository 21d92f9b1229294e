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
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
// while the informers are quiet.
const ProbeInterval = 3 * time.Second

// Watcher keeps an index in step with the namespace.
type Watcher struct {
	client    kubernetes.Interface
	namespace string
	index     *index.Index
	log       *slog.Logger

	secrets, revoked cache.SharedIndexInformer

	mu        sync.Mutex
	connected bool
	changed   time.Time
	lastSync  time.Time
	onChange  func(connected bool)
	// onApplied receives the resourceVersion of each Secret event once
	// the index applied it; secretsApplied reports when the first list was.
	onApplied      func(resourceVersion string)
	secretsApplied func() bool
}

// NewWatcher returns a Watcher; Start runs it.
func NewWatcher(client kubernetes.Interface, namespace string, idx *index.Index, log *slog.Logger) *Watcher {
	w := &Watcher{client: client, namespace: namespace, index: idx, log: log}
	secrets, configMaps := client.CoreV1().Secrets(namespace), client.CoreV1().ConfigMaps(namespace)
	w.secrets = w.informer(&corev1.Secret{}, w.listWatch(SecretSelector,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return secrets.List(ctx, o) },
		secrets.Watch))
	w.revoked = w.informer(&corev1.ConfigMap{}, w.listWatch(RevokedSelector,
		func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return configMaps.List(ctx, o)
		},
		configMaps.Watch))
	return w
}

func (w *Watcher) informer(example runtime.Object, lw *cache.ListWatch) cache.SharedIndexInformer {
	inf := cache.NewSharedIndexInformerWithOptions(lw, example, cache.SharedIndexInformerOptions{})
	// The cache holds every record of the namespace; managed fields are
	// a few hundred bytes of each that nothing here reads.
	_ = inf.SetTransform(dropManagedFields)
	// Without this, a failed watch is only logged by client-go; here it
	// also marks the connection down at once, before the next probe.
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		cache.DefaultWatchErrorHandler(ctx, r, err)
		w.setConnected(false)
	})
	return inf
}

// OnConnectionChange registers a function called when the API server
// becomes reachable or unreachable. Call before Start.
func (w *Watcher) OnConnectionChange(f func(connected bool)) { w.onChange = f }

// OnApplied registers a function called with the resourceVersion of each
// Secret event after the index applied it: the replica report's applied
// version. Call before Start.
func (w *Watcher) OnApplied(f func(resourceVersion string)) { w.onApplied = f }

// SecretsApplied reports whether the index applied the first list of
// Secrets; before, the highest resourceVersion applied means nothing, as a
// list arrives in key order. False before Start.
func (w *Watcher) SecretsApplied() bool {
	return w.secretsApplied != nil && w.secretsApplied()
}

// Start runs the informers and the connection probe until ctx ends.
func (w *Watcher) Start(ctx context.Context) error {
	reg, err := w.secrets.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.applySecret(obj) },
		UpdateFunc: func(_, obj any) { w.applySecret(obj) },
		DeleteFunc: w.deleteSecret,
	})
	if err != nil {
		return err
	}
	w.secretsApplied = reg.HasSynced
	if _, err := w.revoked.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    w.applyRevoked,
		UpdateFunc: func(_, obj any) { w.applyRevoked(obj) },
		DeleteFunc: w.deleteRevoked,
	}); err != nil {
		return err
	}
	go w.secrets.RunWithContext(ctx)
	go w.revoked.RunWithContext(ctx)
	go w.probe(ctx)
	return nil
}

// Synced reports whether both informers completed their first list.
func (w *Watcher) Synced() bool { return w.secrets.HasSynced() && w.revoked.HasSynced() }

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
	if notify != nil {
		notify(ok)
	}
}

// probe reads the signing key set: an authorised, cheap request that
// proves both reachability and that the token server's own RBAC still
// works, and brings a new signing key even while the watches lag.
func (w *Watcher) probe(ctx context.Context) {
	t := time.NewTicker(ProbeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		keys, err := w.client.CoreV1().Secrets(w.namespace).Get(pctx, record.SigningKeysSecretName, metav1.GetOptions{})
		cancel()
		if ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			w.applyKeys(keys)
		case apierrors.IsNotFound(err):
			err = nil // reachable; the manager has not written keys yet
		}
		w.setConnected(err == nil)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// applyKeys applies the key set the probe read. A new signing key is
// published a lead time before it signs, and every replica must have it by
// then, however far its watch lags: after the API server was away, a
// reflector may wait out up to 30 s of back-off before it watches again.
// The probe's read bounds that to ProbeInterval. The index keeps whichever
// copy is newer, so the watch, when it catches up, never undoes it. It is
// not reported as applied: the replica report's version speaks for the
// watch, which applies every record in order.
func (w *Watcher) applyKeys(s *corev1.Secret) {
	if s.Labels[record.LabelComponent] != record.ComponentSigningKeys {
		return
	}
	if err := w.index.ApplySecret(s); err != nil {
		w.log.Error("Ignoring a Secret that does not parse", "secret", s.Name, "error", err.Error())
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
	w.applied(s)
}

func (w *Watcher) applied(s *corev1.Secret) {
	if w.onApplied != nil {
		w.onApplied(s.ResourceVersion)
	}
}

func (w *Watcher) deleteSecret(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if s, ok := obj.(*corev1.Secret); ok {
		w.index.DeleteSecret(s)
		w.applied(s)
	}
}

// CachedLedger returns the informer's copy of a ledger ConfigMap, or nil.
func (w *Watcher) CachedLedger(name string) *corev1.ConfigMap {
	obj, ok, err := w.revoked.GetStore().GetByKey(w.namespace + "/" + name)
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
