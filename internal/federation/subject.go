package federation

import "strings"

// ServiceAccountPrefix starts the sub of every Kubernetes ServiceAccount
// token: system:serviceaccount:<namespace>:<name>.
const ServiceAccountPrefix = "system:serviceaccount:"

// SubjectInNamespace reports whether sub names a ServiceAccount of
// namespace. A credential that trusts this cluster's tokens may name only
// its own namespace's ServiceAccounts; the admission policy refuses others
// when the resource is applied, and the token server checks again.
func SubjectInNamespace(sub, namespace string) bool {
	rest, ok := strings.CutPrefix(sub, ServiceAccountPrefix+namespace+":")
	return ok && rest != "" && !strings.Contains(rest, ":")
}
