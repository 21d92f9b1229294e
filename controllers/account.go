package controllers

import (
	"fmt"
	"time"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// accountState is what a ServiceAccount means for its credentials at one
// moment.
type accountState struct {
	// found is false when the ServiceAccount does not exist or is being
	// deleted: its credentials stop working.
	found bool
	// disabled and expired say why a found account may not authenticate.
	disabled, expired bool
	// expiresAt is when the account expires; nil when it does not.
	expiresAt *time.Time
}

// usable reports whether credentials of the account may authenticate.
func (a accountState) usable() bool { return a.found && !a.disabled && !a.expired }

// reason and message explain why the account named name is unusable, for
// conditions. The kind is spelled out in full because the core
// ServiceAccount shadows Signet's in "kubectl get serviceaccount".
func (a accountState) reason(name string) (string, string) {
	switch {
	case !a.found:
		return iamv1.ServiceAccountNotFoundReason, fmt.Sprintf(
			"ServiceAccount %s (serviceaccounts.iam.signet.dev) does not exist in this namespace; "+
				"create it with apiVersion iam.signet.dev/v1alpha1, or recreate this ClientCredential naming an existing one (spec.serviceAccountName cannot be changed)", name)
	case a.disabled:
		return iamv1.ServiceAccountNotReadyReason, fmt.Sprintf(
			"ServiceAccount %s is disabled; set its spec.disabled to false to use this credential", name)
	case a.expired:
		return iamv1.ServiceAccountNotReadyReason, fmt.Sprintf(
			"ServiceAccount %s has expired (its spec.daysValid); create a new ServiceAccount and ClientCredential", name)
	}
	return "", ""
}

// coreAccountHint is added when a core ServiceAccount of the name exists:
// the easy mistake of "kubectl create serviceaccount".
const coreAccountHint = "; a core ServiceAccount (v1) of that name exists, but Signet credentials need a Signet ServiceAccount " +
	"(\"kubectl get serviceaccounts.iam.signet.dev\" lists them; \"kubectl get serviceaccount\" lists the core kind)"

// accountExpiry is when an account expires: daysValid days after creation.
func accountExpiry(sa *iamv1.ServiceAccount) *time.Time {
	if sa.Spec.DaysValid == nil || sa.CreationTimestamp.IsZero() {
		return nil
	}
	t := sa.CreationTimestamp.Add(time.Duration(*sa.Spec.DaysValid) * 24 * time.Hour)
	return &t
}

// stateOf evaluates an account at now. sa may be nil (not found).
func stateOf(sa *iamv1.ServiceAccount, now time.Time) accountState {
	if sa == nil || !sa.DeletionTimestamp.IsZero() {
		return accountState{}
	}
	s := accountState{found: true, disabled: sa.Spec.Disabled, expiresAt: accountExpiry(sa)}
	s.expired = s.expiresAt != nil && !now.Before(*s.expiresAt)
	return s
}
