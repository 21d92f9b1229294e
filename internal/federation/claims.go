// Package federation holds the rules of workload identity federation that
// both the manager and the token server apply: the CEL claim rules of a
// Federated ClientCredential (compiled by the manager when the resource is
// applied, evaluated by the token server on every exchange) and the
// subject rule for this cluster's own ServiceAccount tokens.
package federation

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
)

// Bounds on a claim rule, so that neither a tenant's expression nor a
// workload's token can make an evaluation expensive.
const (
	// MaxClaimsExpression is the longest expression accepted, as the CRD
	// also says (spec.federation.claims maxLength).
	MaxClaimsExpression = 4096
	// costLimit bounds the work of one evaluation, in CEL cost units.
	costLimit = 100_000
	// maxMessage bounds a compile error carried into a condition.
	maxMessage = 512
)

// ClaimRule is a compiled spec.federation.claims expression.
type ClaimRule struct {
	program cel.Program
}

var claimsEnv = mustEnv()

func mustEnv() *cel.Env {
	env, err := cel.NewEnv(cel.Variable("claims", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		panic(err)
	}
	return env
}

// ClaimsFix is what to do about a claim rule CompileClaims refused; the
// admission webhook's refusal and the manager's InvalidClaims condition
// both end with it.
const ClaimsFix = "Fix spec.federation.claims: it must be a CEL expression over the map claims that yields a boolean"

// CompileClaims compiles a claim rule: a CEL expression over the map
// "claims" of the token's claims that yields a boolean. The error says
// what is wrong in words fit for a condition message.
func CompileClaims(expr string) (*ClaimRule, error) {
	if len(expr) > MaxClaimsExpression {
		return nil, fmt.Errorf("spec.federation.claims is longer than %d characters", MaxClaimsExpression)
	}
	ast, iss := claimsEnv.Compile(expr)
	if iss.Err() != nil {
		return nil, fmt.Errorf("spec.federation.claims is not a valid CEL expression: %s", clip(iss.Err().Error()))
	}
	if !ast.OutputType().IsExactType(cel.BoolType) {
		return nil, fmt.Errorf("spec.federation.claims must be a boolean expression, for example claims.repository_owner == \"acme\"; it yields %s", ast.OutputType())
	}
	prg, err := claimsEnv.Program(ast, cel.CostLimit(costLimit))
	if err != nil {
		return nil, fmt.Errorf("spec.federation.claims cannot be evaluated: %s", clip(err.Error()))
	}
	return &ClaimRule{program: prg}, nil
}

// ErrClaimsNotMet: the token's claims do not satisfy the rule. A rule that
// reads a claim the token lacks does not match either.
var ErrClaimsNotMet = errors.New("the token's claims do not satisfy the claim rule")

// Match evaluates the rule over a token's claims. Anything but true,
// including an evaluation error, is a refusal.
func (r *ClaimRule) Match(claims map[string]any) error {
	out, _, err := r.program.Eval(map[string]any{"claims": claims})
	if err != nil {
		return ErrClaimsNotMet
	}
	if ok, isBool := out.Value().(bool); !isBool || !ok {
		return ErrClaimsNotMet
	}
	return nil
}

func clip(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessage {
		return s[:maxMessage] + "..."
	}
	return s
}
