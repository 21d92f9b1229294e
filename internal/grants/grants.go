// Package grants compiles the privileges of a ServiceAccount from the
// AccessRules that name it: the union of the scopes and audiences of every
// rule in force.
package grants

import (
	"slices"
	"time"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// Grants are the effective privileges of one account at one moment.
type Grants struct {
	// Scopes and Audiences are sorted and free of duplicates.
	Scopes    []string
	Audiences []string
	// NextChange is the earliest expiry among the rules in force: the grants
	// must be compiled again then. Zero when no rule in force expires.
	NextChange time.Time
}

// InForce reports whether a rule grants anything at now.
func InForce(rule *iamv1.AccessRule, now time.Time) bool {
	return rule.DeletionTimestamp.IsZero() &&
		(rule.Spec.ExpiresAt == nil || now.Before(rule.Spec.ExpiresAt.Time))
}

// Names reports whether rule names the ServiceAccount account as a subject.
func Names(rule *iamv1.AccessRule, account string) bool {
	for _, s := range rule.Spec.Subjects {
		if s.Name == account && (s.Kind == "" || s.Kind == "ServiceAccount") {
			return true
		}
	}
	return false
}

// Compile returns the grants of account from rules (all in the account's
// namespace) at now. Rules that do not name the account, that are being
// deleted, or that have expired contribute nothing.
func Compile(rules []iamv1.AccessRule, account string, now time.Time) Grants {
	var g Grants
	for i := range rules {
		rule := &rules[i]
		if !Names(rule, account) || !InForce(rule, now) {
			continue
		}
		g.Scopes = append(g.Scopes, rule.Spec.Scopes...)
		g.Audiences = append(g.Audiences, rule.Spec.Audiences...)
		if rule.Spec.ExpiresAt != nil && (g.NextChange.IsZero() || rule.Spec.ExpiresAt.Time.Before(g.NextChange)) {
			g.NextChange = rule.Spec.ExpiresAt.Time
		}
	}
	g.Scopes = sortedSet(g.Scopes)
	g.Audiences = sortedSet(g.Audiences)
	return g
}

func sortedSet(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	slices.Sort(in)
	return slices.Compact(in)
}
