package controllers

import (
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

// reason and message explain an unusable account, for conditions.
func (a accountState) reason() (string, string) {
	switch {
	case !a.found:
		return iamv1.ServiceAccountNotFoundReason, "the ServiceAccount does not exist; create it or fix spec.serviceAccountName"
	case a.disabled:
		return iamv1.ServiceAccountNotReadyReason, "the ServiceAccount is disabled"
	case a.expired:
		return iamv1.ServiceAccountNotReadyReason, "the ServiceAccount has expired (spec.daysValid)"
	}
	return "", ""
}

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
