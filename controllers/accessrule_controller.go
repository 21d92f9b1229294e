package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/grants"
)

// AccessRuleReconciler reports which subjects of each AccessRule exist and
// whether the rule is in force. The grant itself takes effect through the
// ClientCredential controller, which watches AccessRules directly.
type AccessRuleReconciler struct {
	client.Client
	Clock                   clock.PassiveClock
	MaxConcurrentReconciles int
}

// +kubebuilder:rbac:groups=iam.signet.dev,resources=accessrules,verbs=get;list;watch
// +kubebuilder:rbac:groups=iam.signet.dev,resources=accessrules/status,verbs=get;update;patch

// Reconcile computes and writes the status of one AccessRule.
func (r *AccessRuleReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return reconcileStatus(ctx, r.Client, r.Clock, req, &iamv1.AccessRule{}, "accessrule", r.compute)
}

// compute fills in the status: which subjects exist, and whether the rule is
// in force.
func (r *AccessRuleReconciler) compute(ctx context.Context, obj *iamv1.AccessRule, conds *conditionSet) (time.Time, error) {
	found, missing, err := r.subjects(ctx, obj)
	if err != nil {
		return time.Time{}, err
	}
	obj.Status.FoundSubjects, obj.Status.MissingSubjects = found, missing

	now := r.Clock.Now()
	switch {
	case !grants.InForce(obj, now):
		conds.markNotReady(iamv1.ExpiredReason, fmt.Sprintf("the grant expired at %s; it no longer applies", obj.Spec.ExpiresAt.Format(time.RFC3339)))
		return time.Time{}, nil
	case len(missing) > 0:
		conds.markNotReady(iamv1.SubjectsMissingReason, fmt.Sprintf("ServiceAccounts not found: %s; the grant applies to them once they exist", strings.Join(missing, ", ")))
	default:
		conds.markReady("granted to " + plural(len(found), "ServiceAccount"))
	}
	if obj.Spec.ExpiresAt != nil {
		return obj.Spec.ExpiresAt.Time, nil
	}
	return time.Time{}, nil
}

// subjects splits the rule's subjects into those that exist and those that
// do not, both sorted.
func (r *AccessRuleReconciler) subjects(ctx context.Context, obj *iamv1.AccessRule) (found, missing []string, err error) {
	for _, s := range obj.Spec.Subjects {
		sa := &iamv1.ServiceAccount{}
		switch err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: s.Name}, sa); {
		case err == nil && sa.DeletionTimestamp.IsZero():
			found = append(found, s.Name)
		case err == nil || apierrors.IsNotFound(err):
			missing = append(missing, s.Name)
		default:
			return nil, nil, err
		}
	}
	slices.Sort(found)
	slices.Sort(missing)
	return found, missing, nil
}

// SetupWithManager watches AccessRules and the ServiceAccounts they name.
func (r *AccessRuleReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&iamv1.AccessRule{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&iamv1.ServiceAccount{}, handler.EnqueueRequestsFromMapFunc(accountToRules(r.Client)),
			builder.WithPredicates(createOrDelete())).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles}).
		Complete(r)
}
