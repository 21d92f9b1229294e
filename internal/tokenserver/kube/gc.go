package kube

import (
	"context"
	"log/slog"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/signet-iam/signet/internal/record"
)

// CollectSelector selects the ConfigMaps garbage collection may delete:
// ledgers, and the per-jti objects of earlier versions.
var CollectSelector = record.LabelComponent + " in (" + ComponentLedger + "," +
	record.ComponentUsedAssertion + "," + record.ComponentRevokedToken + ")"

// collectGrace is how long past its expires-at an object is kept, so that
// replicas whose clocks run behind still see a jti as used.
const collectGrace = time.Minute

// GCLeaseName is the Lease the replicas elect their one collector with.
const GCLeaseName = "signet-token-server-gc"

// Collector deletes ledgers (and older per-jti objects) whose every entry
// has expired. It reads page by page, so its memory does not grow with the
// namespace, and deletes at a bounded rate, so a backlog never floods the
// API server. Deletes are preconditioned on the UID and resourceVersion
// read: a ledger written to since is left alone.
type Collector struct {
	Client    kubernetes.Interface
	Namespace string
	Log       *slog.Logger
	// Interval between runs, jittered by up to half of it.
	Interval time.Duration
	// PageSize is the List limit. Default 500.
	PageSize int64
	// DeletesPerSecond bounds the delete rate. Default 50.
	DeletesPerSecond float64
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

// RunElected runs the collector only while this replica holds the Lease
// GCLeaseName, so that one replica collects at a time. identity names this
// replica (the Pod name).
func (c *Collector) RunElected(ctx context.Context, identity string) error {
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, c.Namespace, GCLeaseName,
		c.Client.CoreV1(), c.Client.CoordinationV1(), resourcelock.ResourceLockConfig{Identity: identity})
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   30 * time.Second,
			RenewDeadline:   20 * time.Second,
			RetryPeriod:     5 * time.Second,
			ReleaseOnCancel: true,
			Name:            GCLeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					c.Log.Info("Elected to collect garbage", "identity", identity)
					c.Run(ctx)
				},
				OnStoppedLeading: func() {},
			},
		})
	}
	return nil
}

// Collect deletes what expired before now and returns how many it deleted.
func (c *Collector) Collect(ctx context.Context, now time.Time) (int, error) {
	cms := c.Client.CoreV1().ConfigMaps(c.Namespace)
	page := c.PageSize
	if page <= 0 {
		page = 500
	}
	perSecond := c.DeletesPerSecond
	if perSecond <= 0 {
		perSecond = 50
	}
	limiter := rate.NewLimiter(rate.Limit(perSecond), max(1, int(perSecond)))
	deleted := 0
	opts := metav1.ListOptions{LabelSelector: CollectSelector, Limit: page}
	for {
		list, err := cms.List(ctx, opts)
		if apierrors.IsResourceExpired(err) && opts.Continue != "" {
			// The continue token outlived etcd's compaction (a slow pass
			// over a large backlog): start over; what was deleted is gone.
			opts.Continue = ""
			continue
		}
		if err != nil {
			return deleted, err
		}
		for i := range list.Items {
			cm := &list.Items[i]
			if !expired(cm, now) {
				continue
			}
			if err := limiter.Wait(ctx); err != nil {
				return deleted, err
			}
			uid, rv := cm.UID, cm.ResourceVersion
			err = cms.Delete(ctx, cm.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
			switch {
			case err == nil:
				deleted++
			case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			default:
				return deleted, err
			}
		}
		if list.Continue == "" {
			return deleted, nil
		}
		opts.Continue = list.Continue
	}
}

func expired(cm *corev1.ConfigMap, now time.Time) bool {
	exp, err := time.Parse(time.RFC3339, cm.Annotations[record.AnnotationExpiresAt])
	return err == nil && !now.Before(exp.Add(collectGrace))
}
