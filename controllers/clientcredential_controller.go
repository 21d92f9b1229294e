package controllers

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
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
	"github.com/signet-iam/signet/internal/grants"
	"github.com/signet-iam/signet/internal/record"
)

const (
	// credentialFinalizer deletes the credential record, which lives in the
	// Signet namespace where an owner reference cannot reach.
	credentialFinalizer = "iam.signet.dev/credential-record"
	// fieldOwner is the server-side apply field manager of every write.
	fieldOwner = client.FieldOwner("signet-manager")
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

	hashKeys hashKeyCache
}

// credentialScope carries what the phases of one reconcile share.
type credentialScope struct {
	obj *iamv1.ClientCredential
	now time.Time
	// clientID is derived from the object's UID before the phases run.
	clientID string

	// account and grants are set by reconcileAccount.
	account accountState
	grants  grants.Grants
	// hasher is set by reconcileHashKey.
	hasher *credential.Hasher
	// workload is the workload Secret's content as written; set by
	// reconcileWorkloadSecret, nil when the Secret name is not this
	// credential's to write.
	workload *workload
	// record is the credential record as written; set by reconcileRecord.
	record *record.Record
	// restartPending is set when rollout restarts are due but not yet done,
	// so status keeps the previous rotation time and the next reconcile
	// retries them.
	restartPending bool
	// nameTaken is set when the workload Secret's name belongs to another
	// credential or to a Secret Signet did not create.
	nameTaken bool
	// graceEnded is set when a previous secret's grace ended and it was
	// dropped from the record in this pass.
	graceEnded bool

	// stop ends the phases early without an error: the credential is
	// waiting on something (keys) or on a person (a Secret name conflict).
	stop       bool
	conditions conditionSet
	// next is the earliest moment time-based work is due.
	next time.Time
}

// schedule records a moment at which the credential must be reconciled again.
func (s *credentialScope) schedule(t time.Time) {
	if t.After(s.now) {
		s.next = earliest(s.next, t)
	}
}

type credentialPhase func(context.Context, *credentialScope) error

// +kubebuilder:rbac:groups=iam.signet.dev,resources=clientcredentials,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=iam.signet.dev,resources=clientcredentials/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=iam.signet.dev,resources=clientcredentials/finalizers,verbs=update
// +kubebuilder:rbac:groups=iam.signet.dev,resources=serviceaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=iam.signet.dev,resources=accessrules,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=get
// +kubebuilder:rbac:groups=apps,resources=deployments;statefulsets,verbs=patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile runs the phases in order; each builds on the one before, so the
// first error or stop ends the pass. One deferred patch writes the status.
func (r *ClientCredentialReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	obj := &iamv1.ClientCredential{}
	if err := r.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.DeletionTimestamp.IsZero() {
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
	s := &credentialScope{obj: obj, now: r.Clock.Now(), clientID: clientID}
	base := obj.DeepCopy()
	defer func() {
		r.summarize(ctx, s, base, retErr)
		if err := r.Status().Patch(ctx, obj, client.MergeFrom(base)); err != nil {
			retErr = kerrors.NewAggregate([]error{retErr, client.IgnoreNotFound(err)})
		}
		if retErr != nil {
			reconcileErrors.WithLabelValues("clientcredential").Inc()
			return
		}
		result.RequeueAfter = requeueAfter(r.Clock.Now(), s.next)
	}()

	for _, phase := range []credentialPhase{
		r.reconcileAccount,
		r.reconcileHashKey,
		r.reconcileWorkloadSecret,
		r.reconcileRecord,
		r.reconcileRestarts,
	} {
		if err := phase(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
		if s.stop {
			break
		}
	}
	return ctrl.Result{}, nil
}

// reconcileAccount evaluates the ServiceAccount and compiles its grants. An
// unusable account does not stop the pass: the record must say so, so that
// the token server refuses the credential and its tokens.
func (r *ClientCredentialReconciler) reconcileAccount(ctx context.Context, s *credentialScope) error {
	obj := s.obj
	sa := &iamv1.ServiceAccount{}
	err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: obj.Spec.ServiceAccountName}, sa)
	switch {
	case apierrors.IsNotFound(err):
		sa = nil
	case err != nil:
		return err
	}
	s.account = stateOf(sa, s.now)
	if s.account.usable() {
		s.schedule(deref(s.account.expiresAt))
	} else {
		reason, message := s.account.reason(obj.Spec.ServiceAccountName)
		if !s.account.found && r.coreAccountExists(ctx, obj.Namespace, obj.Spec.ServiceAccountName) {
			message += coreAccountHint
		}
		s.conditions.markNotReady(reason, message)
	}

	rules := &iamv1.AccessRuleList{}
	if err := r.List(ctx, rules, client.InNamespace(obj.Namespace), client.MatchingFields{ruleSubjectIndex: obj.Spec.ServiceAccountName}); err != nil {
		return err
	}
	s.grants = grants.Compile(rules.Items, obj.Spec.ServiceAccountName, s.now)
	s.schedule(s.grants.NextChange)
	return nil
}

// coreAccountExists reports whether a core ServiceAccount of the name
// exists. It reads around the cache (one GET, only while the Signet
// ServiceAccount is missing) so the manager does not watch every core
// ServiceAccount; an error only means no hint.
func (r *ClientCredentialReconciler) coreAccountExists(ctx context.Context, namespace, name string) bool {
	sa := &corev1.ServiceAccount{}
	return r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sa) == nil
}

// reconcileHashKey loads the hash keyring that the keys controller creates
// at start-up. Until it exists, the credential waits.
func (r *ClientCredentialReconciler) reconcileHashKey(ctx context.Context, s *credentialScope) error {
	secret := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: r.Options.SignetNamespace, Name: record.HashKeySecretName}, secret)
	if apierrors.IsNotFound(err) {
		s.conditions.markReconciling(iamv1.KeysNotReadyReason,
			fmt.Sprintf("waiting for the hash key Secret %s/%s", r.Options.SignetNamespace, record.HashKeySecretName))
		s.schedule(s.now.Add(2 * time.Second))
		s.stop = true
		return nil
	}
	if err != nil {
		return err
	}
	s.hasher, err = r.hashKeys.hasher(secret)
	return err
}

// SetupWithManager wires the watches: the credential itself; its account and
// the AccessRules naming that account (grants and enablement); the Secrets
// Signet writes (repair of workload Secrets and records, and release of a
// Secret name another credential was waiting for).
func (r *ClientCredentialReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&iamv1.ClientCredential{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&iamv1.ServiceAccount{}, handler.EnqueueRequestsFromMapFunc(accountToCredentials(r.Client)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&iamv1.AccessRule{}, handler.EnqueueRequestsFromMapFunc(ruleToCredentials(r.Client)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(secretToCredentials(r.Client, r.Options.SignetNamespace)),
			builder.WithPredicates(predicate.NewPredicateFuncs(isSignetSecret))).
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
