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
	"runtime"

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
// Its work is bounded. The rule's length is: the CRD caps it at
// federation.MaxClaimsExpression characters before the API server calls a
// validating webhook, CompileClaims refuses a longer one without parsing it,
// and the webhook server caps the request body (7 MiB). A rule at that
// limit takes about 30 ms of CPU to compile, so at most one compilation per
// CPU runs at a time; a request that cannot get one before the API server
// gives up on it is allowed with a warning, as the webhook's failurePolicy
// Ignore would allow it, and the reconcile's InvalidClaims condition still
// reports a rule that does not compile.
type ClaimsValidator struct {
	// slots holds one token per compilation allowed to run at once.
	slots chan struct{}
}

var _ admission.Validator[*iamv1.ClientCredential] = &ClaimsValidator{}

// NewClaimsValidator returns a validator running at most GOMAXPROCS
// compilations at once.
func NewClaimsValidator() *ClaimsValidator {
	return &ClaimsValidator{slots: make(chan struct{}, runtime.GOMAXPROCS(0))}
}

// NewClientCredentialWebhook is the webhook to register at
// ClientCredentialPath.
func NewClientCredentialWebhook(mgr ctrl.Manager) *admission.Webhook {
	return admission.WithValidator[*iamv1.ClientCredential](mgr.GetScheme(), NewClaimsValidator())
}

// notChecked is the warning of a request allowed unchecked.
const notChecked = "spec.federation.claims was not checked: the admission webhook is busy. The manager reports a rule that does not compile as condition Ready=False, reason InvalidClaims"

// ValidateCreate compiles the claim rule of a new credential.
func (v *ClaimsValidator) ValidateCreate(ctx context.Context, obj *iamv1.ClientCredential) (admission.Warnings, error) {
	return v.check(ctx, obj)
}

// ValidateUpdate compiles the claim rule only when the update changes it. A
// credential stored with a rule that does not compile (written while the
// webhook was down, or before it existed) must still take every other
// write: revoking it, fixing another field, the manager removing its
// finalizer. Its InvalidClaims condition already says what to fix.
func (v *ClaimsValidator) ValidateUpdate(ctx context.Context, oldObj, newObj *iamv1.ClientCredential) (admission.Warnings, error) {
	if claimsOf(oldObj) == claimsOf(newObj) {
		return nil, nil
	}
	return v.check(ctx, newObj)
}

// ValidateDelete allows every deletion; the webhook is not registered for
// DELETE.
func (*ClaimsValidator) ValidateDelete(context.Context, *iamv1.ClientCredential) (admission.Warnings, error) {
	return nil, nil
}

// check compiles obj's rule in one of the slots, or allows it unchecked
// with a warning when the request ends before a slot is free.
func (v *ClaimsValidator) check(ctx context.Context, obj *iamv1.ClientCredential) (admission.Warnings, error) {
	if obj.Spec.Type != iamv1.FederatedType || claimsOf(obj) == "" {
		return nil, nil
	}
	select {
	case v.slots <- struct{}{}:
		defer func() { <-v.slots }()
	case <-ctx.Done():
		return admission.Warnings{notChecked}, nil
	}
	return nil, checkClaims(claimsOf(obj))
}

// checkClaims returns the compiler's message, which names
// spec.federation.claims and says what is wrong, followed by what to do. The
// rule is the tenant's own expression and holds no secret.
func checkClaims(expr string) error {
	if _, err := federation.CompileClaims(expr); err != nil {
		return errors.New(err.Error() + ". " + federation.ClaimsFix)
	}
	return nil
}

func claimsOf(obj *iamv1.ClientCredential) string {
	if obj.Spec.Federation == nil {
		return ""
	}
	return obj.Spec.Federation.Claims
}
