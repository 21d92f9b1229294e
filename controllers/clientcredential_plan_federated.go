package controllers

import (
	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/federation"
	"github.com/signet-iam/signet/internal/record"
)

// planFederation sets a Federated record's trust: the issuer, subject,
// audience (Signet's issuer unless set), claim rule and JWKS URL the token
// server checks a workload's token against. Signet holds no secret for it.
//
// A claim rule that does not compile stalls the credential with a message
// saying what is wrong; the last valid trust stays in force, as with
// supplied public keys, and a credential that never had one gets a record
// whose rule the token server cannot compile either, so nothing
// authenticates (fail-closed). Any change of trust moves TokensNotBefore:
// tokens obtained under the old trust die with it.
func planFederation(s *snapshot, o *outcome, rec, prev *record.Record) {
	f := s.obj.Spec.Federation
	if f == nil { // refused by the CRD; never trust anything then
		return
	}
	rec.Federation = &record.Federation{
		Issuer:   f.Issuer,
		Subject:  f.Subject,
		Audience: f.Audience,
		Claims:   f.Claims,
		JWKSURL:  f.JWKSURL,
	}
	if rec.Federation.Audience == "" {
		rec.Federation.Audience = s.issuer
	}
	if f.Claims != "" {
		if _, err := federation.CompileClaims(f.Claims); err != nil {
			o.conditions.markStalled(iamv1.InvalidClaimsReason, err.Error()+
				"; "+claimsInForce(prev)+". "+federation.ClaimsFix)
			if prev != nil && prev.Federation != nil {
				rec.Federation = prev.Federation
			}
		}
	}
	if prev != nil && prev.Federation != nil && *prev.Federation != *rec.Federation {
		bump(&rec.TokensNotBefore, o.now)
	}
}

func claimsInForce(prev *record.Record) string {
	if prev != nil && prev.Federation != nil {
		return "the last valid federation stays in force"
	}
	return "no workload token is accepted until it is fixed"
}
