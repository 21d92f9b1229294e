package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
)

// A ClientCredential is a new identity each time it is created: its
// client_id is derived from its UID. Continuity is the one exception, and
// it must be asked for twice: the deleted credential and the re-created one
// both carry annotContinuity. Deleting the first hands its record over
// (suspended: the token server refuses it) for at most the continuity
// window; creating the second, with the same name, account and type,
// adopts it, with its client_id, its not-before times and, when the
// workload Secret was orphaned, its secret. What an event killed before
// the deletion stays dead. See docs/design/0028-continuity.md.
const (
	annotContinuity = "iam.signet.dev/continuity"
	// DefaultContinuityWindow is how long a handed-over record waits.
	DefaultContinuityWindow = time.Hour
)

// wantsContinuity reports whether obj asks for continuity.
func wantsContinuity(obj metav1.Object) bool {
	return obj.GetAnnotations()[annotContinuity] == "true"
}

// namedRecord is a credential record Secret as observe finds it.
type namedRecord struct {
	clientID, credentialUID string
	data                    []byte
}

// chooseIdentity decides which record observe reports for obj: data, the
// record of the client_id derived from its UID, when there is one; else
// the record obj adopted earlier; else, when obj asks for continuity, the
// latest handed-over record of its name as a candidate for plan. named
// lists the records labelled with obj's namespace and name; it is called
// only when data is nil.
func chooseIdentity(obj *iamv1.ClientCredential, derived string, data []byte, named func() ([]namedRecord, error)) (string, []byte, *namedRecord, error) {
	if data != nil {
		return derived, data, nil, nil
	}
	found, err := named()
	if err != nil {
		return derived, nil, nil, err
	}
	own, handover := resolveRecords(obj, found)
	switch {
	case own != nil:
		return own.clientID, own.data, nil, nil
	case wantsContinuity(obj):
		return derived, nil, handover, nil
	}
	return derived, nil, nil, nil
}

// resolveRecords picks, among the records labelled with a credential's
// namespace and name, the one it adopted earlier (labelled with its UID,
// whatever the record holds: an unreadable one is rebuilt under its
// client_id) and the latest one handed over by a deleted credential of that
// name. Unreadable records are nobody's to adopt.
func resolveRecords(obj *iamv1.ClientCredential, found []namedRecord) (own, handover *namedRecord) {
	var latest time.Time
	for i := range found {
		if found[i].credentialUID == string(obj.UID) {
			own = &found[i]
			continue
		}
		rec, err := record.Parse(found[i].data)
		if err != nil || rec.ClientID != found[i].clientID {
			continue
		}
		if rec.HandoverUntil != nil && rec.HandoverUntil.After(latest) {
			latest, handover = *rec.HandoverUntil, &found[i]
		}
	}
	return own, handover
}

// continueIdentity returns the snapshot plan works from: s itself, or, when
// s may adopt the record a deleted credential handed over, a copy under
// that record's client_id. A refused adoption leaves a new identity and
// says why.
func continueIdentity(s *snapshot, o *outcome) *snapshot {
	h := s.handover
	if h == nil {
		return s
	}
	prev, err := record.Parse(h.data)
	if why := adoptionRefused(s.obj, prev, err, o.now); why != "" {
		o.notify(true, iamv1.ContinuityRefusedReason, "Continue",
			"Did not continue client_id %s: %s; this credential is a new identity", h.clientID, why)
		return s
	}
	c := *s
	c.clientID, c.recordData, c.handover, c.adopting = h.clientID, h.data, nil, true
	o.notify(false, iamv1.ContinuedReason, "Continue",
		"Continued client_id %s of the deleted ClientCredential %s (annotation %s)", h.clientID, s.obj.Name, annotContinuity)
	return &c
}

// adoptionRefused says why obj may not adopt prev, or "" when it may: the
// handover has not ended and the record was compiled for a credential of
// the same namespace, name, account and type.
func adoptionRefused(obj *iamv1.ClientCredential, prev *record.Record, err error, now time.Time) string {
	switch {
	case err != nil:
		return "its record is unreadable"
	case prev.HandoverUntil == nil:
		return "its record is not handed over"
	case !now.Before(*prev.HandoverUntil):
		return "its handover ended at " + prev.HandoverUntil.UTC().Format(time.RFC3339)
	case prev.Namespace != obj.Namespace || prev.Credential != obj.Name:
		return "it belonged to another ClientCredential"
	case prev.ServiceAccount != obj.Spec.ServiceAccountName:
		return fmt.Sprintf("it belonged to ServiceAccount %q, not %q", prev.ServiceAccount, obj.Spec.ServiceAccountName)
	case prev.Type != credentialType(obj):
		return fmt.Sprintf("it was of type %s, not %s", prev.Type, credentialType(obj))
	}
	return ""
}

// credentialType is obj's spec.type with its default.
func credentialType(obj *iamv1.ClientCredential) string {
	if obj.Spec.Type == "" {
		return record.TypeClientSecret
	}
	return string(obj.Spec.Type)
}

// handOver is the record a credential deleted with continuity leaves: the
// stored one, suspended until now+window. It returns nil when there is
// nothing to hand over (no record, or an unreadable one, which is deleted
// instead), and write false when the record is already handed over: its
// deadline never moves.
func handOver(data []byte, now time.Time, window time.Duration) (rec *record.Record, write bool) {
	if data == nil {
		return nil, false
	}
	rec, err := record.Parse(data)
	if err != nil {
		return nil, false
	}
	if rec.HandoverUntil != nil {
		return rec, false
	}
	until := now.Add(window).UTC()
	rec.HandoverUntil = &until
	return rec, true
}

// handoverEnded reports whether a record labelled as handed over may be
// deleted: its handover ended, or it is unreadable.
func handoverEnded(data []byte, now time.Time) bool {
	rec, err := record.Parse(data)
	return err != nil || rec.HandoverUntil != nil && !now.Before(*rec.HandoverUntil)
}

// recordsNamed lists the credential records labelled with a credential's
// namespace and name, from the cache through the record owner index.
func (r *ClientCredentialReconciler) recordsNamed(ctx context.Context, namespace, name string) ([]namedRecord, error) {
	list := &corev1.SecretList{}
	if err := r.List(ctx, list, client.InNamespace(r.Options.SignetNamespace),
		client.MatchingFields{recordOwnerIndex: namespace + "/" + name}); err != nil {
		return nil, err
	}
	out := make([]namedRecord, 0, len(list.Items))
	for _, sec := range list.Items {
		out = append(out, namedRecord{
			clientID: sec.Labels[record.LabelClientID], credentialUID: sec.Labels[record.LabelCredentialUID], data: sec.Data[record.RecordKey],
		})
	}
	return out, nil
}

// handoverSweeper deletes handed-over records whose handover ended. The
// token server refuses them anyway; this keeps them from accumulating. It
// runs on the leader only.
type handoverSweeper struct {
	client   client.Client
	clock    interface{ Now() time.Time }
	ns       string
	interval time.Duration
}

func (h *handoverSweeper) NeedLeaderElection() bool { return true }

func (h *handoverSweeper) Start(ctx context.Context) error {
	return every(ctx, h.interval, "sweeping handed-over credential records", h.sweep)
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

func (h *handoverSweeper) sweep(ctx context.Context) error {
	list := &corev1.SecretList{}
	if err := h.client.List(ctx, list, client.InNamespace(h.ns), client.MatchingLabels{record.LabelHandover: "true"}); err != nil {
		return err
	}
	now := h.clock.Now()
	for i := range list.Items {
		sec := &list.Items[i]
		if !handoverEnded(sec.Data[record.RecordKey], now) {
			continue
		}
		uid := sec.UID
		if err := h.client.Delete(ctx, sec, client.Preconditions{UID: &uid, ResourceVersion: &sec.ResourceVersion}); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("deleting handed-over record %s: %s", sec.Name, safeReason(err))
		}
	}
	return nil
}
