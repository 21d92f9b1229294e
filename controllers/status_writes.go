package controllers

import (
	"reflect"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// statusWrites remembers, per object, the resourceVersion its last status
// write returned, so that a pass whose status would change nothing can skip
// the write. Most passes are such: the Secrets a pass writes wake the same
// credential again, and at 10,000 credentials the no-op applies were a
// tenth of the API server's work.
//
// Skipping is safe only when the cached object is the one Signet last wrote.
// A cache that lags behind that write shows an older status, which can
// equal a new pass's outcome while the server holds something else (a
// transient error written as Reconciling, then a pass that succeeds): the
// write must happen then. An object this process never wrote is always
// written, once.
type statusWrites struct{ versions sync.Map }

// unchanged reports whether writing status to obj would change nothing:
// obj is as Signet last wrote it, and status equals observed.
func (w *statusWrites) unchanged(obj client.Object, observed, status map[string]any) bool {
	v, ok := w.versions.Load(client.ObjectKeyFromObject(obj))
	return ok && v == obj.GetResourceVersion() && reflect.DeepEqual(observed, status)
}

func (w *statusWrites) wrote(key types.NamespacedName, resourceVersion string) {
	w.versions.Store(key, resourceVersion)
}

func (w *statusWrites) forget(key types.NamespacedName) { w.versions.Delete(key) }
