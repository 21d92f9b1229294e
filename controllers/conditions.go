package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// conditionSet accumulates the conditions a reconcile decides on. Ready is
// always written; Reconciling, Stalled and ExpiringSoon are "abnormal-true"
// and removed unless set True during this reconcile, so a stale one never
// lingers.
type conditionSet struct {
	ready        *metav1.Condition
	reconciling  *metav1.Condition
	stalled      *metav1.Condition
	expiringSoon *metav1.Condition
	// previousInUse is PreviousSecretInUse, present only while True.
	previousInUse *metav1.Condition
}

func condition(condType string, status metav1.ConditionStatus, reason, message string) *metav1.Condition {
	return &metav1.Condition{Type: condType, Status: status, Reason: reason, Message: message}
}

// markReady records Ready=True unless something already made it False.
func (c *conditionSet) markReady(message string) {
	if c.ready == nil {
		c.ready = condition(iamv1.ReadyCondition, metav1.ConditionTrue, iamv1.ReadyReason, message)
	}
}

// markNotReady records Ready=False. The first reason wins: phases run in
// order of importance.
func (c *conditionSet) markNotReady(reason, message string) {
	if c.ready == nil || c.ready.Status == metav1.ConditionTrue {
		c.ready = condition(iamv1.ReadyCondition, metav1.ConditionFalse, reason, message)
	}
}

// markStalled records that a person must act; kstatus reports Failed.
func (c *conditionSet) markStalled(reason, message string) {
	c.stalled = condition(iamv1.StalledCondition, metav1.ConditionTrue, reason, message)
	c.markNotReady(reason, message)
}

// markPreviousInUse records that a consumer still uses the previous
// secret. It does not touch Ready: the credential is in force.
func (c *conditionSet) markPreviousInUse(reason, message string) {
	c.previousInUse = condition(iamv1.PreviousSecretInUseCondition, metav1.ConditionTrue, reason, message)
}

// markReconciling records work in progress; kstatus reports InProgress.
func (c *conditionSet) markReconciling(reason, message string) {
	c.reconciling = condition(iamv1.ReconcilingCondition, metav1.ConditionTrue, reason, message)
	c.markNotReady(reason, message)
}

// apply writes the set into conditions, keeping LastTransitionTime of
// unchanged conditions.
func (c *conditionSet) apply(conditions *[]metav1.Condition, generation int64) {
	for condType, cond := range map[string]*metav1.Condition{
		iamv1.ReadyCondition:               c.ready,
		iamv1.ReconcilingCondition:         c.reconciling,
		iamv1.StalledCondition:             c.stalled,
		iamv1.ExpiringSoonCondition:        c.expiringSoon,
		iamv1.PreviousSecretInUseCondition: c.previousInUse,
	} {
		if cond == nil {
			if condType != iamv1.ReadyCondition {
				meta.RemoveStatusCondition(conditions, condType)
			}
			continue
		}
		cond.ObservedGeneration = generation
		meta.SetStatusCondition(conditions, *cond)
	}
}
