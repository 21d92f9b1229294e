package kube

import (
	"context"
	"log/slog"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/signet-iam/signet/internal/record"
)

// CollectSelector selects the ConfigMaps garbage collection may delete.
var CollectSelector = record.LabelComponent + " in (" + record.ComponentUsedAssertion + "," + record.ComponentRevokedToken + ")"

// collectGrace is how long past its expires-at an object is kept, so that
// replicas whose clocks run behind still see a jti as used.
const collectGrace = time.Minute

// Collector deletes used-assertion and revoked-token ConfigMaps that have
// expired. Every replica may run it: deletes are preconditioned on the UID
// and a missing object is not an error, so two replicas collecting at once
// do no harm.
type Collector struct {
	Client    kubernetes.Interface
	Namespace string
	Log       *slog.Logger
	// Interval between runs, jittered by up to half of it so that
	// replicas spread out.
	Interval time.Duration
}

// Run collects until ctx ends.
func (c *Collector) Run(ctx context.Context) {
	wait.JitterUntilWithContext(ctx, func(ctx context.Context) {
		if n, err := c.Collect(ctx, time.Now()); err != nil {
			c.Log.Warn("Garbage collection did not finish", "deleted", n, "error", err.Error())
		} else if n > 0 {
			c.Log.Info("Garbage collected expired token-server objects", "deleted", n)
		}
	}, c.Interval, 0.5, false)
}

// Collect deletes what expired before now and returns how many it deleted.
func (c *Collector) Collect(ctx context.Context, now time.Time) (int, error) {
	cms := c.Client.CoreV1().ConfigMaps(c.Namespace)
	list, err := cms.List(ctx, metav1.ListOptions{LabelSelector: CollectSelector})
	if err != nil {
		return 0, err
	}
	deleted := 0
	for i := range list.Items {
		cm := &list.Items[i]
		exp, err := time.Parse(time.RFC3339, cm.Annotations[record.AnnotationExpiresAt])
		if err != nil || now.Before(exp.Add(collectGrace)) {
			continue
		}
		uid := cm.UID
		err = cms.Delete(ctx, cm.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		switch {
		case err == nil:
			deleted++
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
		default:
			return deleted, err
		}
	}
	return deleted, nil
}
