package federation

import (
	"errors"
	"strings"
	"testing"
)

func TestClaimRules(t *testing.T) {
	github := map[string]any{"repository_owner": "acme", "environment": "prod", "run_attempt": "1", "groups": []any{"a", "b"}}
	for _, tc := range []struct {
		expr   string
		claims map[string]any
		match  bool
	}{
		{`claims.repository_owner == "acme" && claims.environment == "prod"`, github, true},
		{`claims.repository_owner == "acme" && claims.environment == "staging"`, github, false},
		{`"b" in claims.groups`, github, true},
		// A claim the token lacks is a refusal, not an error that lets it through.
		{`claims.workflow == "deploy"`, github, false},
		{`!has(claims.workflow) || claims.workflow == "deploy"`, github, true},
	} {
		rule, err := CompileClaims(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		err = rule.Match(tc.claims)
		if (err == nil) != tc.match {
			t.Errorf("%s: match error %v, want match %v", tc.expr, err, tc.match)
		}
		if err != nil && !errors.Is(err, ErrClaimsNotMet) {
			t.Errorf("%s: error %v, want ErrClaimsNotMet", tc.expr, err)
		}
	}
}

func TestInvalidClaimRulesAreRefusedWithAReason(t *testing.T) {
	for expr, want := range map[string]string{
		`claims.repository_owner ==`:               "is not a valid CEL expression",
		`claims.repository_owner`:                  "must be a boolean expression",
		`size(claims)`:                             "must be a boolean expression",
		`unknown_variable == "x"`:                  "is not a valid CEL expression",
		strings.Repeat("a", MaxClaimsExpression+1): "longer than 4096",
	} {
		_, err := CompileClaims(expr)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CompileClaims(%.40q) = %v, want an error saying %q", expr, err, want)
		}
		if err != nil && len(err.Error()) > 2*maxMessage {
			t.Errorf("the error is %d characters long", len(err.Error()))
		}
	}
}

func TestSubjectInNamespace(t *testing.T) {
	for sub, want := range map[string]bool{
		"system:serviceaccount:team-a:builder":   true,
		"system:serviceaccount:team-b:builder":   false,
		"system:serviceaccount:team-a:":          false,
		"system:serviceaccount:team-a:builder:x": false,
		"system:serviceaccount:team-a-x:builder": false,
		"repo:acme/api:ref:refs/heads/main":      false,
	} {
		if got := SubjectInNamespace(sub, "team-a"); got != want {
			t.Errorf("SubjectInNamespace(%q, team-a) = %v, want %v", sub, got, want)
		}
	}
}

// FuzzClaimRules compiles any expression and evaluates it over any claims:
// neither may panic, and an expression that compiles answers only match or
// ErrClaimsNotMet.
func FuzzClaimRules(f *testing.F) {
	f.Add(`claims.repository_owner == "acme"`, "repository_owner", "acme")
	f.Add(`claims.a.b.c == 1`, "a", "x")
	f.Add(`claims.x.matches("^(a+)+$")`, "x", strings.Repeat("a", 64)+"b")
	f.Add(`[1,2,3].all(i, [1,2,3].all(j, [1,2,3].all(k, true)))`, "", "")
	f.Fuzz(func(t *testing.T, expr, key, value string) {
		rule, err := CompileClaims(expr)
		if err != nil {
			return
		}
		if err := rule.Match(map[string]any{key: value, "n": int64(len(value))}); err != nil && !errors.Is(err, ErrClaimsNotMet) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
