package admission

import (
	"context"
	"strings"
	"testing"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// federated is a Federated ClientCredential with the claim rule claims.
func federated(ns, name, claims string) *iamv1.ClientCredential {
	return &iamv1.ClientCredential{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: iamv1.ClientCredentialSpec{
			ServiceAccountName: "ci",
			Type:               iamv1.FederatedType,
			Federation: &iamv1.Federation{
				Issuer:  "https://token.actions.githubusercontent.com",
				Subject: "repo:acme/api:ref:refs/heads/main",
				Claims:  claims,
			},
		},
	}
}

func TestClaimsValidator(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v := NewClaimsValidator()
	for name, tc := range map[string]struct {
		old, obj *iamv1.ClientCredential
		// refused is a part of the refusal's message; empty means allowed.
		refused string
	}{
		"a rule that compiles to a boolean is allowed":     {obj: federated("team-a", "ci", `claims.repository_owner == "acme"`)},
		"a Federated credential without a rule is allowed": {obj: federated("team-a", "ci", "")},
		"a credential of another type is allowed": {obj: &iamv1.ClientCredential{Spec: iamv1.ClientCredentialSpec{
			ServiceAccountName: "ci", Type: iamv1.ClientSecretType}}},
		"a rule that does not parse is refused with the compiler's message": {
			obj: federated("team-a", "ci", `claims.repository_owner ==`), refused: "spec.federation.claims is not a valid CEL expression: ERROR: <input>:1:"},
		"a rule that is not a boolean is refused": {
			obj: federated("team-a", "ci", `claims.repository_owner`), refused: "spec.federation.claims must be a boolean expression"},
		"a rule that reads an undeclared variable is refused": {
			obj: federated("team-a", "ci", `token.sub == "x"`), refused: "undeclared reference to 'token'"},
		"a rule longer than the CRD allows is refused unparsed": {
			obj: federated("team-a", "ci", strings.Repeat("(", 5000)), refused: "longer than 4096 characters"},
		"an update to a rule that does not compile is refused": {
			old: federated("team-a", "ci", `claims.a == "b"`), obj: federated("team-a", "ci", `claims.a = "b"`), refused: "Fix spec.federation.claims"},
		"an update that keeps a stored rule that does not compile is allowed (revoking it, removing a finalizer)": {
			old: federated("team-a", "ci", `claims.a = "b"`), obj: func() *iamv1.ClientCredential {
				cc := federated("team-a", "ci", `claims.a = "b"`)
				cc.Spec.Revoked = true
				return cc
			}()},
		"an update that fixes a stored rule is allowed": {
			old: federated("team-a", "ci", `claims.a = "b"`), obj: federated("team-a", "ci", `claims.a == "b"`)},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			if tc.old == nil {
				_, err = v.ValidateCreate(ctx, tc.obj)
			} else {
				_, err = v.ValidateUpdate(ctx, tc.old, tc.obj)
			}
			switch {
			case tc.refused == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.refused != "" && err == nil:
				t.Fatalf("allowed, want a refusal containing %q", tc.refused)
			case tc.refused != "" && !strings.Contains(err.Error(), tc.refused):
				t.Fatalf("refusal %q does not contain %q", err, tc.refused)
			case tc.refused != "" && !strings.HasPrefix(err.Error(), "spec.federation.claims"):
				t.Fatalf("refusal %q does not start with the field it is about", err)
			}
		})
	}
}

// TestBusyValidatorAllowsWithAWarning: a request whose context ends while
// every compilation slot is taken is allowed unchecked, as failurePolicy
// Ignore would allow it, and says so.
func TestBusyValidatorAllowsWithAWarning(t *testing.T) {
	t.Parallel()
	v := &ClaimsValidator{slots: make(chan struct{}, 1)}
	v.slots <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	warnings, err := v.ValidateCreate(ctx, federated("team-a", "ci", `claims.a =`))
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "not checked") {
		t.Fatalf("got warnings %q and error %v, want one warning that it was not checked", warnings, err)
	}
	<-v.slots
	if _, err := v.ValidateCreate(context.Background(), federated("team-a", "ci", `claims.a =`)); err == nil {
		t.Fatal("with a free slot the rule must be checked and refused")
	}
}

// TestRotatorFailureDoesNotStopTheManager: a rotator that stops with an
// error (here: never set up, so it has no reader) is logged, not returned,
// so the manager's controllers keep running.
func TestRotatorFailureDoesNotStopTheManager(t *testing.T) {
	t.Parallel()
	r := &rotator.CertRotator{}
	if err := r.Start(context.Background()); err == nil {
		t.Fatal("the rotator's own Start must fail here for this test to mean anything")
	}
	if err := (contained{r}).Start(context.Background()); err != nil {
		t.Fatalf("contained rotator returned %v", err)
	}
}

// BenchmarkCompileWorstCase measures the webhook's work for one request at
// the CRD's length limit: a 4096-character rule of nested comparisons.
func BenchmarkCompileWorstCase(b *testing.B) {
	const term = ` && claims.a == "b"`
	var sb strings.Builder
	sb.WriteString("true")
	for sb.Len()+len(term) <= 4096 {
		sb.WriteString(term)
	}
	cc := federated("team-a", "ci", sb.String())
	if err := checkClaims(claimsOf(cc)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_ = checkClaims(claimsOf(cc))
	}
}
