package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/client-go/util/csaupgrade"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
)

// apply writes what plan decided: the workload Secret first (the record is
// derived from it, so a crash in between re-derives the same record), then
// the record, both with server-side apply; then it announces, and restarts
// the rollout restart targets. restartPending is set when a restart failed,
// so status keeps the previous rotation time and the next pass retries.
func (r *ClientCredentialReconciler) apply(ctx context.Context, s *snapshot, o *outcome) (restartPending bool, err error) {
	if o.workload == nil {
		return false, nil
	}
	if o.writeWorkload {
		if err := r.applyWorkloadSecret(ctx, s, o.workload); err != nil {
			return false, err
		}
	}
	if o.writeRecord {
		ac, _, err := record.ApplyConfiguration(r.Options.SignetNamespace, o.record)
		if err != nil {
			return false, err
		}
		if err := r.Apply(ctx, ac, fieldOwner, client.ForceOwnership); err != nil {
			return false, fmt.Errorf("writing credential record for %s: %s", s.clientID, safeReason(err))
		}
	}
	for _, n := range o.notices {
		if n.issued {
			credentialRotations.WithLabelValues(s.obj.Namespace, n.reason).Inc()
		}
		if n.warning {
			r.Notifier.warning(ctx, s.obj, n.reason, n.action, "%s", n.message)
		} else {
			r.Notifier.normal(ctx, s.obj, n.reason, n.action, "%s", n.message)
		}
	}
	if o.restartStamp != "" {
		if err := r.restartTargets(ctx, s.obj, o.restartStamp); err != nil {
			return true, err
		}
	}
	return false, nil
}

// writeStatus writes the status from the outcome (nil when observe or plan
// failed) with one server-side apply, owning only Signet's own conditions, and decides
// when to look again.
func (r *ClientCredentialReconciler) writeStatus(ctx context.Context, obj *iamv1.ClientCredential, clientID string, o *outcome, restartPending bool, reconcileErr error) (ctrl.Result, error) {
	observed := obj.Status.DeepCopy()
	st := &obj.Status
	st.ClientID = clientID
	conds := conditionSet{}
	if o != nil {
		fillStatus(obj, o, restartPending)
		conds = o.conditions
	}
	if reconcileErr != nil {
		conds.markReconciling(iamv1.ReconcileErrorReason, reconcileErr.Error())
	} else {
		st.ObservedGeneration = obj.Generation
	}
	conds.apply(&st.Conditions, obj.Generation)
	recordExpiryMetric(obj, o)
	err := reconcileErr
	if perr := r.applyStatus(ctx, obj, observed); perr != nil {
		err = kerrors.NewAggregate([]error{err, client.IgnoreNotFound(perr)})
	}
	if err != nil {
		reconcileErrors.WithLabelValues("clientcredential").Inc()
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: requeueAfter(r.Clock.Now(), o.next)}, nil
}

// applyStatus writes obj's status with server-side apply on the status
// subresource, as its own field manager. The configuration carries every
// status field Signet decides, so one it leaves out (a condition no longer
// True, a rotation no longer scheduled) is removed, and only Signet's own
// condition types, so a condition another actor added survives. The
// conditions were merged into the observed ones, which keeps their
// lastTransitionTime while their status does not change. A pass that would
// change none of Signet's fields of the status Signet last wrote writes
// nothing (statusWrites).
func (r *ClientCredentialReconciler) applyStatus(ctx context.Context, obj *iamv1.ClientCredential, observed *iamv1.ClientCredentialStatus) error {
	status, err := ownStatus(&obj.Status)
	if err != nil {
		return err
	}
	before, err := ownStatus(observed)
	if err != nil {
		return err
	}
	upgraded, err := r.upgradeStatusOwnership(ctx, obj)
	if err != nil {
		return err
	}
	if !upgraded && r.statusWrites.unchanged(obj, before, status) {
		return nil
	}
	u := &unstructured.Unstructured{Object: map[string]any{"status": status}}
	u.SetGroupVersionKind(iamv1.GroupVersion.WithKind("ClientCredential"))
	u.SetNamespace(obj.Namespace)
	u.SetName(obj.Name)
	if err := r.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), statusFieldOwner, client.ForceOwnership); err != nil {
		return err
	}
	r.statusWrites.wrote(client.ObjectKeyFromObject(obj), u.GetResourceVersion())
	return nil
}

// ownStatus is the part of a status that Signet applies, in the form it is
// sent: times in whole seconds, as the API server keeps them, so that a
// status read back compares equal to the one that was written.
func ownStatus(st *iamv1.ClientCredentialStatus) (map[string]any, error) {
	st = st.DeepCopy()
	st.Conditions = ownConditions(st.Conditions)
	// The propagation controller owns these (propagation.go).
	st.Propagation = nil
	return runtime.DefaultUnstructuredConverter.ToUnstructured(st)
}

// legacyStatusManagers are the field managers under which an earlier
// Signet wrote the status with a merge patch: the manager binary's name,
// which client-go uses when none is given.
var legacyStatusManagers = sets.New("manager", "signet-manager")

// keepLegacyStatusOwnership is the ClientCredential cache transform: it
// drops every managedFields entry but an earlier Signet's status entries,
// which upgradeStatusOwnership needs to see.
func keepLegacyStatusOwnership(in any) (any, error) {
	obj, ok := in.(*iamv1.ClientCredential)
	if !ok {
		return in, nil
	}
	var keep []metav1.ManagedFieldsEntry
	for _, f := range obj.ManagedFields {
		if isLegacyStatusEntry(f) {
			keep = append(keep, f)
		}
	}
	obj.SetManagedFields(keep)
	return obj, nil
}

func isLegacyStatusEntry(f metav1.ManagedFieldsEntry) bool {
	return f.Operation == metav1.ManagedFieldsOperationUpdate && f.Subresource == "status" && legacyStatusManagers.Has(f.Manager)
}

// upgradeStatusOwnership hands the status fields an earlier Signet wrote
// with a merge patch (an Update entry under its binary's name) to the
// status field manager, once, through one JSON patch of managedFields.
// Without it those fields stay co-owned, and a condition Signet stopped
// setting at the upgrade would never be removed by the apply.
//
// It patches a copy of obj: the status this pass decided, already merged
// into obj, must not be replaced by the stored one the patch returns (a
// condition the pass dropped would come back). upgraded says it patched.
func (r *ClientCredentialReconciler) upgradeStatusOwnership(ctx context.Context, obj *iamv1.ClientCredential) (upgraded bool, err error) {
	if !slices.ContainsFunc(obj.ManagedFields, isLegacyStatusEntry) {
		return false, nil
	}
	patch, err := csaupgrade.UpgradeManagedFieldsPatch(obj, legacyStatusManagers, string(statusFieldOwner), csaupgrade.Subresource("status"))
	if err != nil || patch == nil {
		return false, err
	}
	return true, r.Patch(ctx, obj.DeepCopy(), client.RawPatch(types.JSONPatchType, patch))
}

// ownConditions keeps the condition types the ClientCredential reconciler
// owns.
func ownConditions(conds []metav1.Condition) []metav1.Condition {
	var own []metav1.Condition
	for _, c := range conds {
		switch c.Type {
		case iamv1.ReadyCondition, iamv1.ReconcilingCondition, iamv1.StalledCondition, iamv1.ExpiringSoonCondition, iamv1.PreviousSecretInUseCondition:
			own = append(own, c)
		}
	}
	return own
}

// fillStatus copies the outcome into the status. Fields the pass did not
// decide (it stopped before the workload Secret) are left as they are: they
// still describe what the token server holds.
func fillStatus(obj *iamv1.ClientCredential, o *outcome, restartPending bool) {
	st := &obj.Status
	if o.nameTaken {
		st.SecretName = ""
	}
	if w := o.workload; w != nil {
		st.SecretName = workloadSecretName(obj)
		if !restartPending && !w.issuedAt.IsZero() && w.value != "" {
			st.LastRotationTime = &metav1.Time{Time: w.issuedAt}
		}
		st.NextRotationTime = nil
		if next := nextRotation(obj, w.issuedAt); !next.IsZero() && w.value != "" {
			st.NextRotationTime = &metav1.Time{Time: next}
		}
	}
	if o.record != nil {
		st.ExpiresAt = timeOrNil(o.record.ExpiresAt)
		st.PreviousSecretValidUntil = graceDeadline(o.record, o.now)
		st.PreviousSecretRetirement = retirementStatus(o.record.PreviousRetired)
	}
	// A revoked credential holds no secret, so nothing of it expires.
	if obj.Spec.Revoked {
		st.ExpiresAt = nil
	}
}

func recordExpiryMetric(obj *iamv1.ClientCredential, o *outcome) {
	if o == nil {
		return
	}
	if o.record != nil && o.record.ExpiresAt != nil {
		credentialExpiry.WithLabelValues(obj.Namespace, obj.Name, string(obj.Spec.Type)).Set(float64(o.record.ExpiresAt.Unix()))
	} else if o.record != nil {
		credentialExpiry.DeleteLabelValues(obj.Namespace, obj.Name, string(obj.Spec.Type))
	}
}

// restartTargets restarts the rollout restart targets after a rotation or
// repair, like "kubectl rollout restart": it stamps the pod template with the
// new secret's issue time. The stamp makes it idempotent, and it is how
// Signet knows a target was restarted: each pass first asks the target
// whether it already carries the stamp (status alone cannot tell, as it keeps
// whole seconds and may be read stale from the cache), so each restart is
// announced once. A target that does not exist is reported at each pass, as
// a standing misconfiguration, and skipped.
func (r *ClientCredentialReconciler) restartTargets(ctx context.Context, obj *iamv1.ClientCredential, stamp string) error {
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

// reconcileDelete removes the credential record, or hands it over when
// the credential asks for continuity, then deletes the workload Secret
// (deletionPolicy Delete) or its owner reference (Orphan), then the
// finalizer. It never writes anything new: a deleting credential only
// shrinks, and a handed-over record is refused until it is adopted.
func (r *ClientCredentialReconciler) reconcileDelete(ctx context.Context, obj *iamv1.ClientCredential) error {
	if !controllerutil.ContainsFinalizer(obj, credentialFinalizer) {
		return nil
	}
	derived, err := credential.ClientID(string(obj.UID))
	if err != nil {
		return err
	}
	clientID, data, _, err := r.observeIdentity(ctx, obj, derived)
	if err != nil {
		return err
	}
	if err := r.releaseRecord(ctx, obj, clientID, data); err != nil {
		return err
	}
	if err := r.releaseWorkloadSecret(ctx, obj); err != nil {
		return err
	}
	credentialExpiry.DeleteLabelValues(obj.Namespace, obj.Name, string(obj.Spec.Type))
	patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(obj, credentialFinalizer)
	return client.IgnoreNotFound(r.Patch(ctx, obj, patch))
}

// releaseRecord hands the record over when obj asks for continuity and
// there is a readable one to hand over, and deletes it otherwise.
func (r *ClientCredentialReconciler) releaseRecord(ctx context.Context, obj *iamv1.ClientCredential, clientID string, data []byte) error {
	if wantsContinuity(obj) {
		if rec, write := handOver(data, r.Clock.Now(), r.Options.ContinuityWindow); rec != nil {
			if !write {
				return nil
			}
			ac, _, err := record.ApplyConfiguration(r.Options.SignetNamespace, rec)
			if err != nil {
				return err
			}
			if err := r.Apply(ctx, ac, fieldOwner, client.ForceOwnership); err != nil {
				return fmt.Errorf("handing over credential record for %s: %s", clientID, safeReason(err))
			}
			r.Notifier.normal(ctx, obj, iamv1.HandedOverReason, "Continue",
				"Handed over client_id %s until %s: a ClientCredential %s created with annotation %s=true adopts it",
				clientID, rec.HandoverUntil.Format(time.RFC3339), obj.Name, annotContinuity)
			return nil
		}
	}
	rec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.Options.SignetNamespace, Name: record.SecretName(clientID)}}
	if err := r.Delete(ctx, rec); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting credential record: %s", safeReason(err))
	}
	return nil
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
