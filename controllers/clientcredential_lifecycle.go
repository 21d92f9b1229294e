package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
)

// reconcileRestarts restarts the rollout restart targets after a rotation or
// repair, like "kubectl rollout restart": it stamps the pod template with the
// new secret's issue time. The stamp makes it idempotent, and it is how
// Signet knows a target was restarted: each pass first asks the target
// whether it already carries the stamp (status alone cannot tell, as it keeps
// whole seconds and may be read stale from the cache), so each restart is
// announced once. A target that does not exist is reported at each pass, as
// a standing misconfiguration, and skipped.
func (r *ClientCredentialReconciler) reconcileRestarts(ctx context.Context, s *credentialScope) error {
	obj := s.obj
	w := s.workload
	if len(obj.Spec.RolloutRestartTargets) == 0 || w.value == "" ||
		(w.reason != iamv1.RotatedReason && w.reason != iamv1.RepairedReason) {
		return nil
	}
	stamp := w.issuedAt.UTC().Format(time.RFC3339Nano)
	s.restartPending = true
	for _, t := range obj.Spec.RolloutRestartTargets {
		target := restartTargetObject(t.Kind, obj.Namespace, t.Name)
		err := r.Patch(ctx, target, client.RawPatch(types.JSONPatchType, stampTest(stamp)))
		if err == nil {
			continue // already restarted for this secret
		}
		if !apierrors.IsNotFound(err) {
			err = r.Patch(ctx, target, client.RawPatch(types.StrategicMergePatchType, stampPatch(stamp)))
		}
		switch {
		case apierrors.IsNotFound(err):
			r.Notifier.warning(ctx, obj, "RestartTargetNotFound", "RolloutRestart",
				"%s %s does not exist, so it was not restarted; create it or remove it from spec.rolloutRestartTargets", t.Kind, t.Name)
		case err != nil:
			return fmt.Errorf("restarting %s %s: %s", t.Kind, t.Name, safeReason(err))
		default:
			r.Notifier.normal(ctx, obj, iamv1.RestartedReason, "RolloutRestart", "Restarted %s %s to pick up the new secret", t.Kind, t.Name)
		}
	}
	s.restartPending = false
	return nil
}

// stampPatch sets the restart stamp on a pod template.
func stampPatch(stamp string) []byte {
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{annRestartedAt: stamp}}}}})
	return patch
}

// stampTest is a JSON patch holding only a test that the pod template
// carries stamp: it succeeds, changing nothing, only when the target was
// already restarted for this secret. It needs no more than the patch verb.
func stampTest(stamp string) []byte {
	path := "/spec/template/metadata/annotations/" + strings.ReplaceAll(strings.ReplaceAll(annRestartedAt, "~", "~0"), "/", "~1")
	patch, _ := json.Marshal([]map[string]string{{"op": "test", "path": path, "value": stamp}})
	return patch
}

// summarize writes the status from what the phases found. It runs from a
// defer, after an error too, so status always says where the pass stopped.
func (r *ClientCredentialReconciler) summarize(ctx context.Context, s *credentialScope, base *iamv1.ClientCredential, reconcileErr error) {
	obj := s.obj
	st := &obj.Status
	st.ClientID = s.clientID
	if s.nameTaken {
		st.SecretName = ""
	}
	if s.workload != nil {
		st.SecretName = workloadSecretName(obj)
		if !s.restartPending && !s.workload.issuedAt.IsZero() && s.workload.value != "" {
			st.LastRotationTime = &metav1.Time{Time: s.workload.issuedAt}
		}
		st.NextRotationTime = nil
		if next := nextRotation(obj, s.workload.issuedAt); !next.IsZero() && s.workload.value != "" {
			st.NextRotationTime = &metav1.Time{Time: next}
			s.schedule(next)
		}
	}
	// Without a record this pass (waiting for keys, or a name conflict),
	// the previous values still describe what the token server holds.
	if s.record != nil {
		st.ExpiresAt = timeOrNil(s.record.ExpiresAt)
		st.PreviousSecretValidUntil = graceDeadline(s.record, s.now)
	}
	// A revoked credential holds no secret, so nothing of it expires.
	if obj.Spec.Revoked {
		st.ExpiresAt = nil
	}
	r.credentialConditions(s, reconcileErr)
	s.conditions.apply(&st.Conditions, obj.Generation)
	if reconcileErr == nil {
		st.ObservedGeneration = obj.Generation
	}
	r.notifyTransitions(ctx, s, base)
	r.recordExpiryMetric(s)
}

// graceDeadline is when the previous secret or key stops being accepted.
func graceDeadline(rec *record.Record, now time.Time) *metav1.Time {
	var deadline *time.Time
	for _, h := range rec.Secrets {
		if h.NotAfter != nil && now.Before(*h.NotAfter) {
			deadline = h.NotAfter
		}
	}
	for _, k := range rec.PublicKeys {
		if k.NotAfter != nil && now.Before(*k.NotAfter) {
			deadline = k.NotAfter
		}
	}
	return timeOrNil(deadline)
}

// credentialConditions decides Ready and ExpiringSoon.
func (r *ClientCredentialReconciler) credentialConditions(s *credentialScope, reconcileErr error) {
	obj := s.obj
	c := &s.conditions
	if reconcileErr != nil {
		c.markReconciling(iamv1.ReconcileErrorReason, reconcileErr.Error())
		return
	}
	if obj.Spec.Revoked {
		c.markNotReady(iamv1.RevokedReason, "spec.revoked is true: the secret was removed and every token issued from it is inactive")
	}
	if s.record == nil || s.record.ExpiresAt == nil {
		c.markReady(fmt.Sprintf("client_id %s is in force", s.clientID))
		return
	}
	expiry := *s.record.ExpiresAt
	if !s.now.Before(expiry) {
		c.markNotReady(iamv1.ExpiredReason, fmt.Sprintf("the credential expired at %s; change spec.rotation.trigger to issue a new secret", expiry.Format(time.RFC3339)))
		return
	}
	s.schedule(expiry)
	warnFrom := expiry.Add(-expiringSoonWindow(obj))
	if !s.now.Before(warnFrom) {
		c.expiringSoon = condition(iamv1.ExpiringSoonCondition, metav1.ConditionTrue, iamv1.ExpiringSoonReason,
			fmt.Sprintf("the credential expires at %s", expiry.Format(time.RFC3339)))
	} else {
		s.schedule(warnFrom)
	}
	c.markReady(fmt.Sprintf("client_id %s is in force until %s", s.clientID, expiry.Format(time.RFC3339)))
}

// expiringSoonWindow is how long before expiry ExpiringSoon shows: a third
// of the validity, at most seven days (a day when validity is unknown,
// because only the account expires).
func expiringSoonWindow(obj *iamv1.ClientCredential) time.Duration {
	const week = 7 * 24 * time.Hour
	if obj.Spec.ValidFor == nil {
		return 24 * time.Hour
	}
	return min(obj.Spec.ValidFor.Duration/3, week)
}

// notifyTransitions emits an Event when the credential becomes revoked or
// expired, or a grace period ended: once per transition, by comparing with
// the status the pass started from.
func (r *ClientCredentialReconciler) notifyTransitions(ctx context.Context, s *credentialScope, base *iamv1.ClientCredential) {
	obj := s.obj
	before := meta.FindStatusCondition(base.Status.Conditions, iamv1.ReadyCondition)
	after := meta.FindStatusCondition(obj.Status.Conditions, iamv1.ReadyCondition)
	became := func(reason string) bool {
		return after != nil && after.Reason == reason && (before == nil || before.Reason != reason)
	}
	switch {
	case became(iamv1.RevokedReason):
		r.Notifier.warning(ctx, obj, iamv1.RevokedReason, "Revoke", "Revoked client_id %s: its secret was removed and its tokens are inactive", s.clientID)
	case became(iamv1.ExpiredReason):
		r.Notifier.warning(ctx, obj, iamv1.ExpiredReason, "Expire", "client_id %s expired", s.clientID)
	}
	if s.graceEnded {
		r.Notifier.normal(ctx, obj, iamv1.GraceEndedReason, "EndGrace", "The previous secret of client_id %s is no longer accepted", s.clientID)
	}
}

func (r *ClientCredentialReconciler) recordExpiryMetric(s *credentialScope) {
	obj := s.obj
	if s.record != nil && s.record.ExpiresAt != nil {
		credentialExpiry.WithLabelValues(obj.Namespace, obj.Name, string(obj.Spec.Type)).Set(float64(s.record.ExpiresAt.Unix()))
	} else {
		credentialExpiry.DeleteLabelValues(obj.Namespace, obj.Name, string(obj.Spec.Type))
	}
}

// reconcileDelete removes the credential record, then the workload Secret
// (deletionPolicy Delete) or its owner reference (Orphan), then the
// finalizer. It never writes anything new: a deleting credential only
// shrinks.
func (r *ClientCredentialReconciler) reconcileDelete(ctx context.Context, obj *iamv1.ClientCredential) error {
	if !controllerutil.ContainsFinalizer(obj, credentialFinalizer) {
		return nil
	}
	clientID, err := credential.ClientID(string(obj.UID))
	if err != nil {
		return err
	}
	rec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.Options.SignetNamespace, Name: record.SecretName(clientID)}}
	if err := r.Delete(ctx, rec); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting credential record: %s", safeReason(err))
	}
	if err := r.releaseWorkloadSecret(ctx, obj); err != nil {
		return err
	}
	credentialExpiry.DeleteLabelValues(obj.Namespace, obj.Name, string(obj.Spec.Type))
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(obj, credentialFinalizer)
	return client.IgnoreNotFound(r.Patch(ctx, obj, patch))
}

func (r *ClientCredentialReconciler) releaseWorkloadSecret(ctx context.Context, obj *iamv1.ClientCredential) error {
	secret, err := r.currentWorkloadSecret(ctx, obj.Namespace, workloadSecretName(obj))
	if err != nil || secret == nil {
		return err
	}
	ref := metav1.GetControllerOf(secret)
	if ref == nil || ref.UID != obj.UID {
		return nil // not ours: leave it alone
	}
	if obj.Spec.DeletionPolicy == iamv1.OrphanPolicy {
		patch := client.MergeFrom(secret.DeepCopy())
		secret.OwnerReferences = nil
		return client.IgnoreNotFound(r.Patch(ctx, secret, patch))
	}
	uid := secret.UID
	err = r.Delete(ctx, secret, client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting workload Secret %s: %s", secret.Name, safeReason(err))
	}
	return nil
}

// hashKeyCache keeps the Hasher of the hash keyring Secret, rebuilt only when
// the Secret's resourceVersion changes.
type hashKeyCache struct {
	mu      sync.Mutex
	version string
	cached  *credential.Hasher
}

func (c *hashKeyCache) hasher(secret *corev1.Secret) (*credential.Hasher, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached != nil && c.version == secret.ResourceVersion {
		return c.cached, nil
	}
	ring, err := record.ParseHashKeyring(secret.Data[record.KeysKey])
	if err != nil {
		return nil, err
	}
	h, err := ring.Hasher()
	if err != nil {
		return nil, fmt.Errorf("hash key Secret %s is unusable: %w", secret.Name, err)
	}
	c.cached, c.version = h, secret.ResourceVersion
	return h, nil
}
