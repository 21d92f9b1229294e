package controllers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/resourceversion"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/replicareport"
)

// propagationInput is everything that decides an object's Propagated
// condition (docs/design/0029-replica-reports.md).
type propagationInput struct {
	// generation is the object's metadata.generation.
	generation int64
	// versions are the resourceVersions of the credential records that
	// hold the generation: one for a ClientCredential, one per credential
	// for a ServiceAccount.
	versions []string
	// recordPending is set while some record does not hold the generation.
	recordPending bool
	// changedAt is when the manager first compiled the generation (the
	// records' ChangedAt, the latest of them); zero when unknown.
	changedAt time.Time
	// reports are the replica reports, live or not.
	reports []replicareport.Report
	// previous is the Propagated condition in the status, and
	// previousStatus the propagation status beside it.
	previous       *metav1.Condition
	previousStatus *iamv1.Propagation
}

// propagationOutcome is what planPropagation decided.
type propagationOutcome struct {
	condition metav1.Condition
	status    iamv1.Propagation
	// done is set when every live replica has applied the generation.
	done bool
	// observe is set when done is new for this generation: the latency
	// goes into signet_propagation_seconds once.
	observe bool
	// next is when to look again: when a live replica that has not
	// applied the generation times out of the set. Zero when nothing
	// but a report or record change can change the outcome.
	next time.Time
	// awaits is the record write a report must reach to change the
	// outcome (the highest of the versions); empty while a record does
	// not hold the generation, when only a record write can.
	awaits string
}

// planPropagation decides Propagated as a pure function of its input and
// the time. Once True for a generation it stays so until the generation
// changes: a later write of the record at the same generation (a
// scheduled rotation, an expiry) is not a change the operator waits for.
func planPropagation(in propagationInput, now time.Time) propagationOutcome {
	if p := in.previous; p != nil && p.Status == metav1.ConditionTrue && p.ObservedGeneration == in.generation && in.previousStatus != nil {
		return propagationOutcome{condition: *p, status: *in.previousStatus, done: true}
	}
	var o propagationOutcome
	if !in.recordPending {
		o.awaits = highestVersion(in.versions)
	}
	for _, r := range in.reports {
		if !r.Live(now) {
			continue
		}
		o.status.Replicas++
		if !in.recordPending && appliedAll(&r, in.versions) {
			o.status.Applied++
		} else {
			o.next = earliest(o.next, r.Expires())
		}
	}
	cond := func(status metav1.ConditionStatus, reason, message string) metav1.Condition {
		return metav1.Condition{Type: iamv1.PropagatedCondition, Status: status, Reason: reason, Message: message, ObservedGeneration: in.generation}
	}
	switch {
	case in.recordPending:
		o.condition = cond(metav1.ConditionFalse, iamv1.RecordPendingReason,
			fmt.Sprintf("the credential records do not hold generation %d yet", in.generation))
	case o.status.Replicas == 0:
		o.condition = cond(metav1.ConditionFalse, iamv1.NoReplicasReason, "no token-server replica is reporting")
	case o.status.Applied < o.status.Replicas:
		o.condition = cond(metav1.ConditionFalse, iamv1.PropagatingReason,
			fmt.Sprintf("%d of %d token-server replicas", o.status.Applied, o.status.Replicas))
	default:
		o.done, o.observe, o.next = true, true, time.Time{}
		message := fmt.Sprintf("%s applied generation %d", replicasPhrase(o.status.Replicas), in.generation)
		if !in.changedAt.IsZero() {
			latency := max(now.Sub(in.changedAt), 0).Round(time.Millisecond)
			o.status.Latency = &metav1.Duration{Duration: latency}
			message += " in " + latency.String()
		}
		o.condition = cond(metav1.ConditionTrue, iamv1.PropagatedReason, message)
	}
	return o
}

// appliedAll reports whether r has applied every record write in versions.
func appliedAll(r *replicareport.Report, versions []string) bool {
	for _, v := range versions {
		if !r.Applied(v) {
			return false
		}
	}
	return true
}

// highestVersion is the highest of resourceVersions; a report at or past it
// has applied them all.
func highestVersion(versions []string) string {
	var top string
	for _, v := range versions {
		if c, err := resourceversion.CompareResourceVersion(v, top); top == "" || (err == nil && c > 0) {
			top = v
		}
	}
	return top
}

func replicasPhrase(n int32) string {
	if n == 1 {
		return "the 1 token-server replica"
	}
	return fmt.Sprintf("all %d token-server replicas", n)
}
