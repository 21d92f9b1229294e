package controllers

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// statusObject is a Signet kind whose status carries conditions and an
// observed generation.
type statusObject interface {
	client.Object
	StatusConditions() *[]metav1.Condition
	SetObservedGeneration(int64)
}

// reconcileStatus is the whole of a status-only reconciler: fetch the
// object, leave deleting ones alone, let compute fill in the status and the
// conditions, and write both with one patch. observedGeneration moves only
// when compute succeeded. It requeues at the time compute returns.
func reconcileStatus[T statusObject](ctx context.Context, c client.Client, clk clock.PassiveClock, req ctrl.Request, obj T, controller string,
	compute func(ctx context.Context, obj T, conds *conditionSet) (next time.Time, err error),
) (result ctrl.Result, retErr error) {
	if err := c.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, nil
	}
	base := obj.DeepCopyObject().(T)
	var conds conditionSet
	next, err := compute(ctx, obj, &conds)
	if err != nil {
		reconcileErrors.WithLabelValues(controller).Inc()
		conds.markReconciling(iamv1.ReconcileErrorReason, "reading related objects failed; retrying")
	} else {
		obj.SetObservedGeneration(obj.GetGeneration())
	}
	conds.apply(obj.StatusConditions(), obj.GetGeneration())
	if perr := c.Status().Patch(ctx, obj, client.MergeFrom(base)); perr != nil {
		err = kerrors.NewAggregate([]error{err, client.IgnoreNotFound(perr)})
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: requeueAfter(clk.Now(), next)}, nil
}
