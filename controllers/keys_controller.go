package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
)

// maxAccessTokenLifetime is the longest accessTokenLifetime the API allows;
// a retired signing key stays published this long after it stops signing.
const maxAccessTokenLifetime = 24 * time.Hour

// KeysReconciler keeps the two key Secrets of the Signet namespace: the hash
// keyring (created once, never overwritten: every record's hashes depend on
// it) and the signing key set (rotated on schedule with signing.Plan).
type KeysReconciler struct {
	client.Client
	Namespace string
	Policy    signing.Policy
	Clock     clock.PassiveClock
	Notifier  notifier
}

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile ensures both key Secrets exist and the signing keys follow the
// schedule, and requeues at the next scheduled change.
func (r *KeysReconciler) Reconcile(ctx context.Context, _ reconcile.Request) (ctrl.Result, error) {
	if err := r.reconcileHashKey(ctx); err != nil {
		reconcileErrors.WithLabelValues("keys").Inc()
		return ctrl.Result{}, err
	}
	next, err := r.reconcileSigningKeys(ctx)
	if err != nil {
		reconcileErrors.WithLabelValues("keys").Inc()
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: requeueAfter(r.Clock.Now(), next)}, nil
}

func (r *KeysReconciler) keySecret(name, component string, data []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: r.Namespace,
			Labels:    map[string]string{record.LabelManagedBy: record.ManagedBy, record.LabelComponent: component},
		},
		Type: corev1.SecretType("iam.signet.dev/" + component),
		Data: map[string][]byte{record.KeysKey: data},
	}
}

// reconcileHashKey creates the hash keyring when it is missing. An existing
// keyring is never replaced, even if unreadable: replacing it would make
// every stored hash unverifiable, so a person must look instead.
func (r *KeysReconciler) reconcileHashKey(ctx context.Context) error {
	existing := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: record.HashKeySecretName}, existing)
	switch {
	case err == nil:
		if _, perr := record.HasherFromSecret(existing.Data); perr != nil {
			return fmt.Errorf("hash key Secret %s/%s is unusable and will not be replaced: %w", r.Namespace, record.HashKeySecretName, perr)
		}
		return nil
	case !apierrors.IsNotFound(err):
		return err
	}
	ring, err := record.NewHashKeyring(r.Clock.Now())
	if err != nil {
		return err
	}
	data, err := ring.Marshal()
	if err != nil {
		return err
	}
	secret := r.keySecret(record.HashKeySecretName, record.ComponentHashKey, data)
	if err := r.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the hash key Secret: %s", apierrors.ReasonForError(err))
	}
	r.Notifier.normal(ctx, secret, "Created", "CreateHashKey", "Created the hash key %s", ring.Current)
	return nil
}

// reconcileSigningKeys brings the signing key set up to date and returns
// when it next needs attention.
func (r *KeysReconciler) reconcileSigningKeys(ctx context.Context) (time.Time, error) {
	existing := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: r.Namespace, Name: record.SigningKeysSecretName}, existing)
	if err != nil && !apierrors.IsNotFound(err) {
		return time.Time{}, err
	}
	set := &signing.KeySet{}
	if err == nil {
		if set, err = signing.Parse(existing.Data[record.KeysKey]); err != nil {
			return time.Time{}, fmt.Errorf("signing key Secret %s/%s is unreadable and will not be replaced: %w", r.Namespace, record.SigningKeysSecretName, err)
		}
	}
	before := len(set.Keys)
	changed, next, err := signing.Plan(set, r.Policy, r.Clock.Now())
	if err != nil || !changed {
		return next, err
	}
	data, err := set.Marshal()
	if err != nil {
		return time.Time{}, err
	}
	if existing.ResourceVersion == "" {
		err = r.Create(ctx, r.keySecret(record.SigningKeysSecretName, record.ComponentSigningKeys, data))
	} else {
		// A patch with the resourceVersion is a compare-and-swap, so two
		// managers racing after a leader change cannot both add a key.
		patch := client.MergeFromWithOptions(existing.DeepCopy(), client.MergeFromWithOptimisticLock{})
		existing.Data = map[string][]byte{record.KeysKey: data}
		err = r.Patch(ctx, existing, patch)
	}
	if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
		// Another pass or manager wrote first and the cache has not caught
		// up: plan again from what it wrote.
		return r.Clock.Now().Add(time.Second), nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("writing the signing keys: %s", apierrors.ReasonForError(err))
	}
	if added := len(set.Keys) - before; added > 0 {
		signingKeyRotations.Add(float64(added))
	}
	newest := set.Keys[len(set.Keys)-1]
	r.Notifier.normal(ctx, existingOrNew(existing, r.Namespace), "SigningKeysUpdated", "RotateSigningKey",
		"Signing keys updated: %d published; newest %s (%s) signs from %s", len(set.Keys), newest.ID, newest.Algorithm, newest.SignFrom.Format(time.RFC3339))
	return next, nil
}

func existingOrNew(s *corev1.Secret, ns string) *corev1.Secret {
	if s.Name == "" {
		s.Name, s.Namespace = record.SigningKeysSecretName, ns
	}
	return s
}

// SetupWithManager watches the two key Secrets and starts one reconcile at
// start-up, so keys exist before the first credential needs them.
func (r *KeysReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Namespace == "" {
		return errors.New("keys controller needs the Signet namespace")
	}
	kick := make(chan event.GenericEvent, 1)
	kick <- event.GenericEvent{Object: &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: record.SigningKeysSecretName}}}
	isKeySecret := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == r.Namespace &&
			(o.GetName() == record.SigningKeysSecretName || o.GetName() == record.HashKeySecretName)
	})
	one := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: r.Namespace, Name: "keys"}}}
	})
	return ctrl.NewControllerManagedBy(mgr).
		Named("keys").
		Watches(&corev1.Secret{}, one, builder.WithPredicates(isKeySecret)).
		WatchesRawSource(source.Channel(kick, one)).
		Complete(r)
}
