// Package admission is the manager's validating admission webhook. It
// refuses, when a ClientCredential is applied, what neither the CRD's CEL
// rules nor a ValidatingAdmissionPolicy can check: that the claim rule of a
// Federated credential (spec.federation.claims) compiles. It compiles the
// rule with internal/federation, as the manager's reconcile and the token
// server do, so the three never disagree on what is valid.
package admission

import (
	"context"
	"errors"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/federation"
)

// ClientCredentialPath is where the webhook server serves the
// ClientCredential validator; the ValidatingWebhookConfigurations of
// config/webhook and the chart point at it.
const ClientCredentialPath = "/validate-iam-signet-dev-v1alpha1-clientcredential"

// ClaimsValidator refuses a Federated ClientCredential whose
// spec.federation.claims does not compile to a boolean CEL expression, and
// allows everything else: the CRD's rules and the ValidatingAdmissionPolicy
// check the rest.
//
// Its work is bounded by the rule's length: the CRD caps it at
// federation.MaxClaimsExpression characters before the API server calls a
// validating webhook, CompileClaims refuses a longer one without parsing it,
// and the request body is capped by the webhook server (7 MiB).
type ClaimsValidator struct{}

var _ admission.Validator[*iamv1.ClientCredential] = ClaimsValidator{}

// NewClientCredentialWebhook is the webhook to register at
// ClientCredentialPath.
func NewClientCredentialWebhook(mgr ctrl.Manager) *admission.Webhook {
	return admission.WithValidator[*iamv1.ClientCredential](mgr.GetScheme(), ClaimsValidator{})
}

// ValidateCreate compiles the claim rule of a new credential.
func (ClaimsValidator) ValidateCreate(_ context.Context, obj *iamv1.ClientCredential) (admission.Warnings, error) {
	return nil, checkClaims(obj)
}

// ValidateUpdate compiles the claim rule only when the update changes it. A
// credential stored with a rule that does not compile (written while the
// webhook was down, or before it existed) must still take every other
// write: revoking it, fixing another field, the manager removing its
// finalizer. Its InvalidClaims condition already says what to fix.
func (ClaimsValidator) ValidateUpdate(_ context.Context, oldObj, newObj *iamv1.ClientCredential) (admission.Warnings, error) {
	if claimsOf(oldObj) == claimsOf(newObj) {
		return nil, nil
	}
	return nil, checkClaims(newObj)
}

// ValidateDelete allows every deletion; the webhook is not registered for
// DELETE.
func (ClaimsValidator) ValidateDelete(context.Context, *iamv1.ClientCredential) (admission.Warnings, error) {
	return nil, nil
}

// checkClaims returns the compiler's message, which names
// spec.federation.claims and says what is wrong, followed by what to do. The
// rule is the tenant's own expression and holds no secret.
func checkClaims(obj *iamv1.ClientCredential) error {
	if obj.Spec.Type != iamv1.FederatedType {
		return nil
	}
	expr := claimsOf(obj)
	if expr == "" {
		return nil
	}
	if _, err := federation.CompileClaims(expr); err != nil {
		return errors.New(err.Error() + ". Fix spec.federation.claims: it must be a CEL expression over the map claims that yields a boolean")
	}
	return nil
}

func claimsOf(obj *iamv1.ClientCredential) string {
	if obj.Spec.Federation == nil {
		return ""
	}
	return obj.Spec.Federation.Claims
}
