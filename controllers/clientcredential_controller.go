package controllers

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
)

const (
	// credentialFinalizer deletes the credential record, which lives in the
	// Signet namespace where an owner reference cannot reach.
	credentialFinalizer = "iam.signet.dev/credential-record"
	// fieldOwner is the server-side apply field manager of every write.
	fieldOwner = client.FieldOwner("signet-manager")
	// statusFieldOwner is the field manager of the ClientCredential status,
	// so its managed fields name exactly what this reconciler decides.
	statusFieldOwner = client.FieldOwner("signet-clientcredential")
)

// ClientCredentialReconciler turns a ClientCredential into a workload Secret
// (the usable credential, in the tenant namespace) and a credential record
// (its keyed hash and everything the token server enforces, in the Signet
// namespace), and keeps both in step through rotation, revocation, expiry
// and repair.
type ClientCredentialReconciler struct {
	client.Client
	// APIReader reads around the cache, which holds only Signet's Secrets:
	// it finds a foreign Secret before Signet would write over it.
	APIReader client.Reader
	Clock     clock.PassiveClock
	Notifier  notifier
	Options   Options

	hashKeys     hashKeyCache
	statusWrites statusWrites
	generations  generationSeen
	inGrace      inGrace
}

// +kubebuilder:rbac:groups=iam.signet.dev,resources=clientcredentials,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=iam.signet.dev,resources=clientcredentials/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=iam.signet.dev,resources=clientcredentials/finalizers,verbs=update
// +kubebuilder:rbac:groups=iam.signet.dev,resources=serviceaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=iam.signet.dev,resources=accessrules,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=get;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile observes the credential and everything it depends on, plans
// the desired state as a pure function of that snapshot and the time, and
// applies it; one server-side apply of the status ends every pass.
func (r *ClientCredentialReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	obj := &iamv1.ClientCredential{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		if apierrors.IsNotFound(err) {
			r.statusWrites.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.DeletionTimestamp.IsZero() {
		r.inGrace.forget(obj.Status.ClientID)
		return ctrl.Result{}, r.reconcileDelete(ctx, obj)
	}
	// The finalizer is persisted before anything refers to the credential,
	// so its record is always cleaned up. The pass continues with the
	// updated object rather than waiting for the watch to come back.
	if !controllerutil.ContainsFinalizer(obj, credentialFinalizer) {
		patch := client.MergeFromWithOptions(obj.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(obj, credentialFinalizer)
		if err := r.Patch(ctx, obj, patch); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
	}
	clientID, err := credential.ClientID(string(obj.UID))
	if err != nil {
		return ctrl.Result{}, err
	}
	var (
		o              *outcome
		restartPending bool
	)
	s, err := r.observe(ctx, obj.DeepCopy())
	if err == nil {
		o, err = plan(s, r.Clock.Now())
	}
	if err == nil {
		clientID = o.snapshot.clientID
		restartPending, err = r.apply(ctx, o.snapshot, o)
	}
	if err == nil {
		r.inGrace.track(o.snapshot, o)
	}
	return r.writeStatus(ctx, obj, clientID, o, restartPending, err)
}

// SetupWithManager wires the watches: the credential itself; its account and
// the AccessRules naming that account (grants and enablement); the Secrets
// Signet writes (repair of workload Secrets and records, and release of a
// Secret name another credential was waiting for); the replica reports, for
// a newer use of a previous secret in grace (inGrace).
func (r *ClientCredentialReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.generations.clock = r.Clock
	return ctrl.NewControllerManagedBy(mgr).
		For(&iamv1.ClientCredential{}, builder.WithPredicates(r.generations.predicate(),
			predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&iamv1.ServiceAccount{}, handler.EnqueueRequestsFromMapFunc(accountToCredentials(r.Client)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&iamv1.AccessRule{}, handler.EnqueueRequestsFromMapFunc(ruleToCredentials(r.Client)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(secretToCredentials(r.Client, r.Options.SignetNamespace)),
			builder.WithPredicates(predicate.NewPredicateFuncs(isSignetSecret))).
		Watches(&coordinationv1.Lease{}, handler.EnqueueRequestsFromMapFunc(r.inGrace.requests),
			builder.WithPredicates(predicate.NewPredicateFuncs(isReport))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.Options.MaxConcurrentReconciles}).
		Complete(r)
}

// restartTargetObject returns an empty object of a rollout restart target's kind.
func restartTargetObject(kind, namespace, name string) client.Object {
	if kind == "StatefulSet" {
		s := &appsv1.StatefulSet{}
		s.Namespace, s.Name = namespace, name
		return s
	}
	d := &appsv1.Deployment{}
	d.Namespace, d.Name = namespace, name
	return d
}
