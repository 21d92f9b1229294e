package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
)

// DefaultRecordSweepInterval is how often the leader sweeps credential
// records.
const DefaultRecordSweepInterval = time.Minute

// recordSweeper deletes the credential records that no ClientCredential
// owns. It runs on the leader only. Two kinds are left behind:
//
//   - a handed-over record whose handover ended: the token server refuses
//     it anyway; deleting it keeps such records from accumulating;
//   - an orphan: a record whose ClientCredential is gone, or was re-created
//     under a new UID. The finalizer deletes a credential's record before
//     the credential goes, so an orphan only comes from a write that lands
//     after that, such as one a killed leader had in flight. An orphan is
//     a live client of a deleted credential, so it must not survive.
//
// Ownership is judged from the cache and confirmed with a read around it,
// so a cache that lags never costs a live credential its record; the
// delete is conditional on the record being unchanged since it was judged.
type recordSweeper struct {
	client   client.Client
	reader   client.Reader // around the cache, to confirm an orphan
	clock    interface{ Now() time.Time }
	ns       string
	interval time.Duration
}

func (s *recordSweeper) NeedLeaderElection() bool { return true }

func (s *recordSweeper) Start(ctx context.Context) error {
	return every(ctx, s.interval, "sweeping credential records", s.sweep)
}

// every runs f now and then every interval until ctx ends, logging its
// errors as what.
func every(ctx context.Context, interval time.Duration, what string, f func(context.Context) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := f(ctx); err != nil {
			log.FromContext(ctx).Error(err, what)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sweep makes one pass over every credential record in the cache.
func (s *recordSweeper) sweep(ctx context.Context) error {
	list := &corev1.SecretList{}
	if err := s.client.List(ctx, list, client.InNamespace(s.ns),
		client.MatchingLabels{record.LabelComponent: record.ComponentCredentialRecord}, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	now := s.clock.Now()
	for i := range list.Items {
		sec := &list.Items[i]
		why, err := s.unowned(ctx, sec, now)
		if err != nil {
			return err
		}
		if why == "" {
			continue
		}
		uid, version := sec.UID, sec.ResourceVersion
		err = s.client.Delete(ctx, sec.DeepCopy(), client.Preconditions{UID: &uid, ResourceVersion: &version})
		switch {
		case err == nil:
			log.FromContext(ctx).Info("deleted a credential record", "clientID", sec.Labels[record.LabelClientID], "reason", why)
		case apierrors.IsNotFound(err), apierrors.IsConflict(err):
			// Gone already, or changed since: the next pass judges it again.
		default:
			return fmt.Errorf("deleting credential record %s: %s", sec.Name, safeReason(err))
		}
	}
	return nil
}

// unowned says why sec may be deleted, or "" when it must stay.
func (s *recordSweeper) unowned(ctx context.Context, sec *corev1.Secret, now time.Time) (string, error) {
	if sec.Labels[record.LabelHandover] == "true" {
		if handoverEnded(sec.Data[record.RecordKey], now) {
			return "its handover ended", nil
		}
		return "", nil
	}
	key := types.NamespacedName{Namespace: sec.Labels[record.LabelNamespace], Name: sec.Labels[record.LabelCredential]}
	if key.Namespace == "" || key.Name == "" {
		return "", nil // not written by this manager's format: leave it to a person
	}
	for _, r := range []client.Reader{s.client, s.reader} {
		cc := &iamv1.ClientCredential{}
		err := r.Get(ctx, key, cc)
		if err != nil && !apierrors.IsNotFound(err) {
			return "", err
		}
		if err == nil && owns(cc, sec.Labels) {
			return "", nil
		}
	}
	return "its ClientCredential " + key.String() + " is gone or was re-created", nil
}

// owns reports whether cc is the credential a record with these labels was
// compiled for: by UID, or, for a record written before records carried
// their credential's UID, by client_id.
func owns(cc *iamv1.ClientCredential, labels map[string]string) bool {
	if uid := labels[record.LabelCredentialUID]; uid != "" {
		return uid == string(cc.UID)
	}
	id := labels[record.LabelClientID]
	derived, err := credential.ClientID(string(cc.UID))
	return id != "" && (id == cc.Status.ClientID || err == nil && id == derived)
}
