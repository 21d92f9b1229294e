package controllers

import (
	"strings"
	"testing"
	"time"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
)

func federated(claims string) func(c *iamv1.ClientCredential) {
	return func(c *iamv1.ClientCredential) {
		c.Spec.Type = iamv1.FederatedType
		c.Spec.Federation = &iamv1.Federation{Subject: "system:serviceaccount:" + c.Namespace + ":builder", Claims: claims}
	}
}

// TestPlanFederated: a Federated credential gets no secret; its workload
// Secret holds client_id, token_url and issuer only; its record carries the
// trust with the audience defaulted to Signet's issuer; an invalid claim
// rule stalls it and keeps the last valid trust; a changed trust ends the
// tokens obtained under the old one.
func TestPlanFederated(t *testing.T) {
	w := newWorld(t, phaseNow)
	w.createAccount()
	w.createCredential(federated(`claims.environment == "prod"`))
	o := w.reconcile()
	if o.workload.value != "" || !o.writeWorkload || !o.writeRecord {
		t.Fatalf("first pass: value %q, write workload %v, record %v", o.workload.value, o.writeWorkload, o.writeRecord)
	}
	data := workloadData(w.snapshot(), o.workload)
	if len(data) != 3 || data[keyClientID] == nil || data[keyTokenURL] == nil || data[keyIssuer] == nil {
		t.Errorf("workload Secret data has keys %v, want client_id, token_url and issuer only", keysOf(data))
	}
	rec := w.record()
	if rec.Type != record.TypeFederated || rec.Federation == nil || len(rec.Secrets)+len(rec.PublicKeys) != 0 {
		t.Fatalf("record: %+v", rec)
	}
	if rec.Federation.Audience != w.snapshot().issuer || rec.Federation.Claims != `claims.environment == "prod"` {
		t.Errorf("federation %+v: audience must default to Signet's issuer", rec.Federation)
	}
	if o.conditions.ready == nil || o.conditions.ready.Status != "True" {
		t.Errorf("Ready = %+v, want True", o.conditions.ready)
	}
	if o := w.reconcile(); o.writeWorkload || o.writeRecord || len(o.notices) > 0 {
		t.Errorf("a steady-state pass must write and announce nothing: %v %v %v", o.writeWorkload, o.writeRecord, o.notices)
	}

	w.now = w.now.Add(time.Minute)
	w.edit(func(c *iamv1.ClientCredential) { c.Spec.Federation.Claims = `claims.environment ==` })
	o = w.reconcile()
	if o.conditions.stalled == nil || o.conditions.stalled.Reason != iamv1.InvalidClaimsReason ||
		!strings.Contains(o.conditions.stalled.Message, "not a valid CEL expression") ||
		!strings.Contains(o.conditions.stalled.Message, "the last valid federation stays in force") {
		t.Errorf("Stalled = %+v, want InvalidClaims saying what is wrong", o.conditions.stalled)
	}
	if got := w.record().Federation.Claims; got != `claims.environment == "prod"` {
		t.Errorf("claims in force %q, want the last valid rule", got)
	}
	if w.record().IssuedBeforeEpoch(w.now.Add(-time.Second)) {
		t.Error("an invalid edit that changed nothing in force ended the tokens")
	}

	w.now = w.now.Add(time.Minute)
	w.edit(func(c *iamv1.ClientCredential) { c.Spec.Federation.Claims = `claims.environment == "staging"` })
	o = w.reconcile()
	if o.conditions.stalled != nil || w.record().Federation.Claims != `claims.environment == "staging"` {
		t.Errorf("a fixed rule: stalled %+v, claims %q", o.conditions.stalled, w.record().Federation.Claims)
	}
	if !w.record().IssuedBeforeEpoch(w.now.Add(-time.Second)) {
		t.Error("tokens obtained under the old trust are still active")
	}
}

// TestPlanFederatedInvalidFromTheStart: with no valid trust ever, the
// record carries the rule the token server cannot compile either, so
// nothing authenticates.
func TestPlanFederatedInvalidFromTheStart(t *testing.T) {
	w := newWorld(t, phaseNow)
	w.createAccount()
	w.createCredential(federated(`size(claims)`))
	o := w.reconcile()
	if o.conditions.stalled == nil || !strings.Contains(o.conditions.stalled.Message, "no workload token is accepted until it is fixed") {
		t.Errorf("Stalled = %+v", o.conditions.stalled)
	}
	if got := w.record().Federation.Claims; got != `size(claims)` {
		t.Errorf("claims %q", got)
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
