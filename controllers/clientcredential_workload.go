package controllers

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/publickeys"
	"github.com/signet-iam/signet/internal/record"
)

// Keys of the workload Secret. A workload needs nothing else to get a token.
const (
	keyClientID     = "client_id"
	keyClientSecret = "client_secret"
	keyAPIKey       = "api_key"
	keyPrivateKey   = "private_key.pem"
	keyKeyID        = "key_id"
	keyTokenURL     = "token_url"
	keyIssuer       = "issuer"
)

// Annotations Signet keeps on the workload Secret. They travel with the
// secret in one write, which is what makes a crash between the workload
// Secret and the record recoverable: the record is always re-derived from
// them.
const (
	// annIssuedAt is when the current secret was generated (RFC 3339, ns).
	annIssuedAt = "iam.signet.dev/issued-at"
	// annIssueReason is why: Issued, Rotated, Repaired, or Revoked when the
	// secret was removed.
	annIssueReason = "iam.signet.dev/issue-reason"
	// annTrigger is the spec.rotation.trigger value the secret answers.
	annTrigger = "iam.signet.dev/rotation-trigger"
	// annGraceUntil is when the previous secret stops being accepted; absent
	// when the rotation revoked it at once.
	annGraceUntil = "iam.signet.dev/grace-until"
	// annDigest binds the value to Signet: a keyed hash (in its own domain,
	// never accepted as a credential) that tells a secret Signet wrote from
	// one somebody edited in.
	annDigest = "iam.signet.dev/secret-digest"
	// annGeneration is the ClientCredential generation the Secret was
	// written for.
	annGeneration = "iam.signet.dev/generation"
	// annRestartedAt is set on rollout restart targets' pod templates.
	annRestartedAt = "iam.signet.dev/restarted-at"
)

// workloadSecretType marks workload Secrets for people and tools.
const workloadSecretType corev1.SecretType = "iam.signet.dev/client-credential"

// workload is the content of a workload Secret that matters to the record.
type workload struct {
	// value is the secret: client_secret, api_key or private_key.pem. Empty
	// when the credential is revoked or uses supplied public keys.
	value string
	issuance
}

// issuance describes the current secret, as kept in annotations.
type issuance struct {
	issuedAt   time.Time
	reason     string
	trigger    string
	graceUntil *time.Time
	digest     string
}

func parseIssuance(annotations map[string]string) issuance {
	is := issuance{
		reason:  annotations[annIssueReason],
		trigger: annotations[annTrigger],
		digest:  annotations[annDigest],
	}
	is.issuedAt, _ = time.Parse(time.RFC3339Nano, annotations[annIssuedAt])
	if t, err := time.Parse(time.RFC3339Nano, annotations[annGraceUntil]); err == nil {
		is.graceUntil = &t
	}
	return is
}

func (is issuance) annotations() map[string]string {
	out := map[string]string{annIssueReason: is.reason, annTrigger: is.trigger}
	if !is.issuedAt.IsZero() {
		out[annIssuedAt] = is.issuedAt.UTC().Format(time.RFC3339Nano)
	}
	if is.graceUntil != nil {
		out[annGraceUntil] = is.graceUntil.UTC().Format(time.RFC3339Nano)
	}
	if is.digest != "" {
		out[annDigest] = is.digest
	}
	return out
}

// valueKey is the workload Secret key holding the credential's secret, or
// "" when Signet holds none (supplied public keys, Federated).
func valueKey(obj *iamv1.ClientCredential) string {
	switch obj.Spec.Type {
	case iamv1.APIKeyType:
		return keyAPIKey
	case iamv1.PrivateKeyJWTType:
		if obj.Spec.PublicKeys != nil {
			return ""
		}
		return keyPrivateKey
	case iamv1.FederatedType:
		return ""
	default:
		return keyClientSecret
	}
}

func issueVerb(reason string) string {
	switch reason {
	case iamv1.RotatedReason:
		return "Rotated: wrote"
	case iamv1.RepairedReason:
		return "Repaired: the workload Secret was deleted or edited; wrote"
	case iamv1.ReissuedReason:
		return "Reissued: the secret it held predates the credential's not-before (its account or record was replaced); wrote"
	}
	return "Issued: wrote"
}

// currentWorkloadSecret reads the workload Secret from the cache, which holds
// only Signet-labelled Secrets, and falls back to a live read so that a
// Secret somebody else created (or stripped of its labels) is seen before
// anything is written over it.
func (r *ClientCredentialReconciler) currentWorkloadSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	secret := &corev1.Secret{}
	err := r.Get(ctx, key, secret)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, secret)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return secret, nil
}

// mayWrite reports whether obj may write existing: it controls it, or the
// Secret is a Signet workload Secret of this name that nobody controls (left
// behind with deletionPolicy Orphan).
func mayWrite(existing *corev1.Secret, obj *iamv1.ClientCredential) bool {
	if ref := metav1.GetControllerOf(existing); ref != nil {
		return ref.UID == obj.UID
	}
	labels := existing.Labels
	return labels[record.LabelComponent] == record.ComponentWorkloadSecret && labels[record.LabelCredential] == obj.Name
}

// stallOnSecretName reports that the Secret name belongs to someone else.
// The credential never writes the Secret, so two claimants never flap.
// spec.secretName cannot be changed, so the advice is to free the name or
// to recreate the credential.
//
// A Secret another ClientCredential controls carries Signet's labels, so the
// Secret watch wakes this credential when it goes. A foreign Secret is
// outside the label-filtered cache and sends no event: the credential looks
// again on a bounded back-off, so the condition clears by itself once the
// Secret is gone.
func stallOnSecretName(s *snapshot, o *outcome) {
	existing := s.workloadSecret
	o.nameTaken = true
	if ref := metav1.GetControllerOf(existing); ref != nil && ref.Kind == "ClientCredential" {
		o.conditions.markStalled(iamv1.SecretNameConflictReason, fmt.Sprintf(
			"Secret %s is already written by ClientCredential %s, so this credential does not write it. "+
				"spec.secretName cannot be changed: delete ClientCredential %s to hand the name over, "+
				"or recreate this ClientCredential with another spec.secretName (it then gets a new client_id)",
			existing.Name, ref.Name, ref.Name))
		return
	}
	o.conditions.markStalled(iamv1.SecretNotOwnedReason, fmt.Sprintf(
		"Secret %s exists and was not created by Signet, so Signet will not overwrite it. "+
			"Delete that Secret and Signet writes its own within minutes, "+
			"or recreate this ClientCredential with another spec.secretName (spec.secretName cannot be changed)",
		existing.Name))
	o.schedule(o.now.Add(foreignSecretRecheck(existing, o.now)))
}

// foreignSecretRecheck is how long a credential blocked by a foreign Secret
// waits before it looks again: as long as the Secret has existed, between
// one second and five minutes. A Secret deleted soon after the mistake is
// noticed at once; one that stays costs one read per credential every five
// minutes.
func foreignSecretRecheck(existing *corev1.Secret, now time.Time) time.Duration {
	const lo, hi = time.Second, 5 * time.Minute
	if existing.CreationTimestamp.IsZero() {
		return lo
	}
	return min(max(now.Sub(existing.CreationTimestamp.Time), lo), hi)
}

// graceEnd is when the previous secret stops being accepted after a
// rotation at now; nil when the grace period is zero.
func graceEnd(obj *iamv1.ClientCredential, now time.Time) *time.Time {
	if obj.Spec.Rotation == nil || obj.Spec.Rotation.GracePeriod == nil || obj.Spec.Rotation.GracePeriod.Duration <= 0 {
		return nil
	}
	t := now.Add(obj.Spec.Rotation.GracePeriod.Duration)
	return &t
}

// nextRotation is when a secret issued at issuedAt is rotated on schedule;
// zero when no schedule is set.
func nextRotation(obj *iamv1.ClientCredential, issuedAt time.Time) time.Time {
	if obj.Spec.Rotation == nil || obj.Spec.Rotation.Interval == nil || issuedAt.IsZero() {
		return time.Time{}
	}
	return issuedAt.Add(obj.Spec.Rotation.Interval.Duration)
}

func rotationDue(obj *iamv1.ClientCredential, issuedAt, now time.Time) bool {
	next := nextRotation(obj, issuedAt)
	return !next.IsZero() && !now.Before(next)
}

// workloadData is the data of the workload Secret.
func workloadData(s *snapshot, w *workload) map[string][]byte {
	data := map[string][]byte{
		keyClientID: []byte(s.clientID),
		keyTokenURL: []byte(s.tokenURL),
		keyIssuer:   []byte(s.issuer),
	}
	if key := valueKey(s.obj); key != "" && w.value != "" {
		data[key] = []byte(w.value)
		if key == keyPrivateKey {
			if pub, err := publickeys.FromPrivateKeyPEM(w.value); err == nil {
				data[keyKeyID] = []byte(pub.ID)
			}
		}
	}
	return data
}

func workloadLabels(obj *iamv1.ClientCredential) map[string]string {
	labels := map[string]string{}
	if obj.Spec.SecretTemplate != nil {
		maps.Copy(labels, obj.Spec.SecretTemplate.Labels)
	}
	maps.Copy(labels, record.WorkloadLabels(record.ComponentWorkloadSecret, obj.Namespace, obj.Name, obj.Spec.ServiceAccountName))
	return labels
}

// workloadAnnotations are the template's annotations, Signet's issuance
// annotations, and the credential generation they were written for, so a
// template change (which bumps the generation) is applied, and one that
// removes a key removes it.
func workloadAnnotations(obj *iamv1.ClientCredential, w *workload) map[string]string {
	annotations := map[string]string{}
	if obj.Spec.SecretTemplate != nil {
		maps.Copy(annotations, obj.Spec.SecretTemplate.Annotations)
	}
	maps.Copy(annotations, w.annotations())
	annotations[annGeneration] = strconv.FormatInt(obj.Generation, 10)
	return annotations
}

// workloadUpToDate reports whether existing already holds exactly the data
// and annotations wanted (the generation among them), so a steady-state
// reconcile writes nothing.
func workloadUpToDate(existing *corev1.Secret, data map[string][]byte, annotations map[string]string) bool {
	if len(existing.Data) != len(data) || existing.Labels[record.LabelComponent] != record.ComponentWorkloadSecret {
		return false
	}
	for k, v := range data {
		if string(existing.Data[k]) != string(v) {
			return false
		}
	}
	for k, v := range annotations {
		if existing.Annotations[k] != v {
			return false
		}
	}
	_, hasGrace := existing.Annotations[annGraceUntil]
	_, wantGrace := annotations[annGraceUntil]
	return hasGrace == wantGrace
}

// applyWorkloadSecret writes the workload Secret with server-side apply.
// Keys Signet no longer sets (a revoked secret) are removed by the apply.
func (r *ClientCredentialReconciler) applyWorkloadSecret(ctx context.Context, s *snapshot, w *workload) error {
	obj := s.obj
	name := workloadSecretName(obj)
	ac := corev1ac.Secret(name, obj.Namespace).
		WithType(workloadSecretType).
		WithLabels(workloadLabels(obj)).
		WithAnnotations(workloadAnnotations(obj, w)).
		WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(iamv1.GroupVersion.String()).
			WithKind("ClientCredential").
			WithName(obj.Name).
			WithUID(obj.UID).
			WithController(true).
			WithBlockOwnerDeletion(true)).
		WithData(workloadData(s, w))
	if err := r.Apply(ctx, ac, fieldOwner, client.ForceOwnership); err != nil {
		return fmt.Errorf("writing workload Secret %s: %s", name, safeReason(err))
	}
	return nil
}

// safeReason describes an API error by its reason and code only. Messages
// of failed writes can quote the request, and the request holds a secret.
func safeReason(err error) string {
	if status, ok := err.(apierrors.APIStatus); ok {
		st := status.Status()
		return fmt.Sprintf("%s (HTTP %d)", st.Reason, st.Code)
	}
	if apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) {
		return "timeout"
	}
	return "request failed"
}
