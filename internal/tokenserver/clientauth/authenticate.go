package clientauth

import (
	"context"
	"time"

	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/index"
)

// ReplayGuard records that an assertion's jti was used. It must be atomic
// across every token-server replica: of two calls with one (clientID, jti),
// exactly one returns true. An error means the use could not be recorded,
// and the caller fails closed.
type ReplayGuard interface {
	UseAssertion(ctx context.Context, clientID, jti string, exp time.Time) (first bool, err error)
}

// Authenticator checks credentials against an index.
type Authenticator struct {
	Index *index.Index
	// Issuer is the only audience accepted in a client assertion.
	Issuer string
	Replay ReplayGuard
	Now    func() time.Time
	// Federation checks the workload tokens of Federated clients; nil
	// refuses them.
	Federation *Federation
	// PreviousSecretUsed, when set, is told of every authentication with
	// a previous secret in grace (the replica report's last use; see
	// docs/design/0029-replica-reports.md). It must not block.
	PreviousSecretUsed func(ctx context.Context, clientID string)
}

// Authenticate returns the record of the client that c proves to be, or
// why not. An assertion's jti is recorded as used before it returns.
func (a *Authenticator) Authenticate(ctx context.Context, c Credentials) (*record.Record, *Failure) {
	rec, use, f := a.Check(ctx, c)
	if f == nil {
		f = use.Record(ctx)
	}
	if f != nil {
		return nil, f
	}
	return rec, nil
}

// Check proves the credentials and checks that the client may obtain
// tokens, without writing anything. For an assertion, the returned Use
// must be recorded (Use.Record) before anything is issued on it; the
// caller does that last, once every other check passed, so that nothing
// is written for a request that is refused anyway (SECURITY.md 33).
func (a *Authenticator) Check(ctx context.Context, c Credentials) (*record.Record, *Use, *Failure) {
	now := a.Now()
	m := findMethod(c.Method)
	if m == nil {
		return nil, nil, fail(CodeInvalidClient, ReasonNoCredentials, "client authentication is required")
	}
	p, f := m.check(a, ctx, c, now)
	if f == nil {
		f = usable(p.rec, now)
	}
	if f != nil {
		f.Basic = m.challenge
		return nil, nil, f
	}
	if p.previous && a.PreviousSecretUsed != nil {
		a.PreviousSecretUsed(ctx, p.rec.ClientID)
	}
	return p.rec, p.use, nil
}

func usable(rec *record.Record, now time.Time) *Failure {
	ok, why := rec.Usable(now)
	if ok {
		return nil
	}
	reason := ReasonExpired
	switch why {
	case "revoked":
		reason = ReasonRevoked
	case "disabled":
		reason = ReasonDisabled
	}
	return fail(CodeInvalidClient, reason, "the client may not obtain tokens")
}

var errWrongMethod = fail(CodeUnauthorizedClient, ReasonWrongMethod, "the client may not use this authentication method")

// lookup finds a client's record and checks that its type may use the
// method, before any secret is checked.
func (a *Authenticator) lookup(clientID, typ string) (*record.Record, *Failure) {
	if !credential.ValidClientID(clientID) {
		return nil, fail(CodeInvalidClient, ReasonUnknownClient, "client authentication failed")
	}
	rec := a.Index.Record(clientID)
	if rec == nil {
		return nil, fail(CodeInvalidClient, ReasonUnknownClient, "client authentication failed")
	}
	if rec.Type != typ {
		return nil, copyFailure(errWrongMethod)
	}
	return rec, nil
}

func copyFailure(f *Failure) *Failure { c := *f; return &c }
