package signing

import (
	"encoding/json"
	"testing"
	"time"
)

var testPolicy = Policy{Algorithm: ES256, Period: 30 * 24 * time.Hour, PublishLead: 6 * time.Hour, MaxTokenLifetime: 24 * time.Hour}

func mustPlan(t *testing.T, s *KeySet, p Policy, now time.Time) (bool, time.Time) {
	t.Helper()
	changed, next, err := Plan(s, p, now)
	if err != nil {
		t.Fatal(err)
	}
	return changed, next
}

func TestPlanBootstrapsOneKeyThatSignsAtOnce(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &KeySet{}
	changed, next := mustPlan(t, s, testPolicy, now)
	if !changed || len(s.Keys) != 1 {
		t.Fatalf("changed=%v keys=%d, want one new key", changed, len(s.Keys))
	}
	if cur := s.Current(now); cur == nil || cur.Algorithm != ES256 {
		t.Fatal("the bootstrap key does not sign at once")
	}
	if want := now.Add(testPolicy.Period - testPolicy.PublishLead); !next.Equal(want) {
		t.Fatalf("next = %v, want the start of the publish lead %v", next, want)
	}
	if changed, _ := mustPlan(t, s, testPolicy, now.Add(time.Hour)); changed {
		t.Fatal("Plan is not idempotent")
	}
}

func TestPlanPublishesTheNextKeyBeforeItSignsAndKeepsTheRetiredOne(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &KeySet{}
	mustPlan(t, s, testPolicy, start)
	first := s.Keys[0]

	// Inside the lead: a successor is published but the first key still signs.
	leadStart := start.Add(testPolicy.Period - testPolicy.PublishLead)
	if changed, _ := mustPlan(t, s, testPolicy, leadStart); !changed || len(s.Keys) != 2 {
		t.Fatalf("no successor published at the start of the lead (keys=%d)", len(s.Keys))
	}
	second := s.Keys[1]
	if s.Current(leadStart) != first {
		t.Fatal("the successor signs before its lead has passed")
	}
	if s.Lookup(second.ID, leadStart) == nil {
		t.Fatal("the successor is not in the JWKS during the lead")
	}

	// At the end of the period the successor signs; the first key still verifies.
	switchAt := start.Add(testPolicy.Period)
	if s.Current(switchAt) != second {
		t.Fatal("the successor does not sign after the lead")
	}
	if s.Lookup(first.ID, switchAt.Add(testPolicy.MaxTokenLifetime-time.Second)) == nil {
		t.Fatal("the retired key left the JWKS before its last token expired")
	}

	// After the longest token lifetime the retired key is dropped.
	mustPlan(t, s, testPolicy, switchAt.Add(testPolicy.MaxTokenLifetime))
	if len(s.Keys) != 1 || s.Keys[0] != second {
		t.Fatalf("retired key not dropped: %d keys", len(s.Keys))
	}
}

func TestPlanRotatesAtOnceWhenTheAlgorithmChanges(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &KeySet{}
	mustPlan(t, s, testPolicy, now)
	eddsa := testPolicy
	eddsa.Algorithm = EdDSA
	mustPlan(t, s, eddsa, now.Add(time.Minute))
	if len(s.Keys) != 2 || s.Keys[1].Algorithm != EdDSA {
		t.Fatal("no EdDSA successor after the algorithm changed")
	}
	if got := s.Current(now.Add(time.Minute + eddsa.PublishLead)); got == nil || got.Algorithm != EdDSA {
		t.Fatal("the EdDSA key does not sign after the lead")
	}
}

func TestKeySetRoundTripsAndRendersPublicKeysOnly(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, alg := range Algorithms {
		t.Run(alg, func(t *testing.T) {
			p := testPolicy
			p.Algorithm = alg
			s := &KeySet{}
			mustPlan(t, s, p, now)
			data, err := s.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			parsed, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if parsed.Current(now).Signer() == nil {
				t.Fatal("parsed key cannot sign")
			}
			jwks, err := parsed.JWKS(now)
			if err != nil {
				t.Fatal(err)
			}
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(jwks, &set); err != nil || len(set.Keys) != 1 {
				t.Fatalf("JWKS %s: %v", jwks, err)
			}
			k := set.Keys[0]
			if k["alg"] != alg || k["kid"] != s.Keys[0].ID || k["use"] != "sig" {
				t.Fatalf("JWKS key %v lacks alg/kid/use", k)
			}
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[private]; ok {
					t.Fatalf("JWKS leaks private member %q", private)
				}
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	bad := []Policy{
		{Algorithm: "HS256", Period: time.Hour, PublishLead: time.Minute, MaxTokenLifetime: time.Hour},
		{Algorithm: ES256, Period: time.Hour, PublishLead: time.Hour, MaxTokenLifetime: time.Hour},
		{Algorithm: ES256, Period: 0, PublishLead: 0, MaxTokenLifetime: time.Hour},
	}
	for _, p := range bad {
		if p.Validate() == nil {
			t.Errorf("policy %+v accepted", p)
		}
	}
}
