package controllers

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/grants"
)

// ServiceAccountReconciler reports the effective state of each
// ServiceAccount: its subject, the scopes and audiences its AccessRules
// grant, its credential count and its expiry. What credentials may do is
// enforced by the ClientCredential controller, which compiles the same
// grants into the credential records.
type ServiceAccountReconciler struct {
	client.Client
	Clock                   clock.PassiveClock
	MaxConcurrentReconciles int
	// Namespace is the Signet namespace: records and replica reports.
	Namespace string

	pending pendingSet
}

// +kubebuilder:rbac:groups=iam.signet.dev,resources=serviceaccounts,verbs=get;list;watch
// +kubebuilder:rbac:groups=iam.signet.dev,resources=serviceaccounts/status,verbs=get;update;patch

// Reconcile computes and writes the status of one ServiceAccount.
func (r *ServiceAccountReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	// A deleted account waits for nothing any more.
	if err := r.Get(ctx, req.NamespacedName, &iamv1.ServiceAccount{}); apierrors.IsNotFound(err) {
		r.pending.set(req.NamespacedName, false, "")
	}
	return reconcileStatus(ctx, r.Client, r.Clock, req, &iamv1.ServiceAccount{}, "serviceaccount", r.compute)
}

// compute fills in the status: subject, grants, credential count, expiry.
func (r *ServiceAccountReconciler) compute(ctx context.Context, obj *iamv1.ServiceAccount, conds *conditionSet) (time.Time, error) {
	rules := &iamv1.AccessRuleList{}
	if err := r.List(ctx, rules, client.InNamespace(obj.Namespace), client.MatchingFields{ruleSubjectIndex: obj.Name}); err != nil {
		return time.Time{}, err
	}
	creds := &iamv1.ClientCredentialList{}
	if err := r.List(ctx, creds, client.InNamespace(obj.Namespace), client.MatchingFields{credentialAccountIndex: obj.Name}); err != nil {
		return time.Time{}, err
	}

	now := r.Clock.Now()
	g := grants.Compile(rules.Items, obj.Name, now)
	state := stateOf(obj, now)
	obj.Status.Subject = credential.Subject(obj.Namespace, obj.Name)
	obj.Status.Scopes, obj.Status.Audiences = g.Scopes, g.Audiences
	obj.Status.CredentialCount = int32(len(creds.Items))
	obj.Status.ExpiresAt = timeOrNil(state.expiresAt)

	switch {
	case state.disabled:
		conds.markNotReady(iamv1.DisabledReason, "spec.disabled is true: credentials of this account are refused and its tokens are inactive")
	case state.expired:
		conds.markNotReady(iamv1.ExpiredReason, fmt.Sprintf("the account expired at %s (spec.daysValid)", state.expiresAt.Format(time.RFC3339)))
	default:
		conds.markReady(plural(len(g.Scopes), "scope") + " granted through AccessRules")
	}
	var expiry time.Time
	if !state.expired {
		expiry = deref(state.expiresAt)
	}
	p, err := accountPropagation(ctx, r.Client, r.Namespace, obj, creds.Items, now)
	if err != nil {
		return time.Time{}, err
	}
	meta.SetStatusCondition(&obj.Status.Conditions, p.condition)
	obj.Status.Propagation = &p.status
	r.pending.set(client.ObjectKeyFromObject(obj), !p.done, p.awaits)
	observePropagation("ServiceAccount", p)
	return earliest(expiry, g.NextChange, p.next), nil
}

// plural counts n things: "1 scope", "2 scopes".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func timeOrNil(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	return &metav1.Time{Time: *t}
}

// SetupWithManager watches ServiceAccounts, the AccessRules that name them
// and the ClientCredentials that use them.
func (r *ServiceAccountReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&iamv1.ServiceAccount{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&iamv1.AccessRule{}, handler.EnqueueRequestsFromMapFunc(ruleToAccounts)).
		Watches(&iamv1.ClientCredential{}, handler.EnqueueRequestsFromMapFunc(credentialToAccount),
			builder.WithPredicates(createOrDelete())).
		// Propagated: the records written for the account's generation,
		// and the replica reports while the account waits for them.
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(recordToAccount(r.Namespace)),
			builder.WithPredicates(predicate.NewPredicateFuncs(isSignetSecret))).
		Watches(&coordinationv1.Lease{}, handler.EnqueueRequestsFromMapFunc(r.pending.requests),
			builder.WithPredicates(predicate.NewPredicateFuncs(isReport))).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}

// createOrDelete passes only creations and deletions: a credential count
// does not change on update.
func createOrDelete() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }}
}
