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
	var (
		rec      *record.Record
		use      *Use
		f        *Failure
		previous bool
	)
	switch c.Method {
	case MethodBasic, MethodPost:
		rec, previous, f = a.clientSecret(c, now)
	case MethodAPIKey:
		rec, previous, f = a.apiKey(c, now)
	case MethodJWT:
		if a.isFederated(c) {
			rec, f = a.federated(ctx, c, now)
		} else {
			rec, use, f = a.assertion(c, now)
		}
	case MethodFederated:
		rec, f = a.federated(ctx, c, now)
	default:
		f = fail(CodeInvalidClient, ReasonNoCredentials, "client authentication is required")
	}
	if f == nil {
		f = usable(rec, now)
	}
	if f != nil {
		f.Basic = c.Method == MethodBasic
		return nil, nil, f
	}
	if previous && a.PreviousSecretUsed != nil {
		a.PreviousSecretUsed(ctx, rec.ClientID)
	}
	return rec, use, nil
}

// matchSecret finds which accepted secret of rec satisfies match, and
// whether it is a previous one (in grace).
func matchSecret(rec *record.Record, now time.Time, match func(hash string) bool) (via *record.Record, previous, ok bool) {
	var matched string
	via, ok = rec.MatchSecret(now, func(hash string) bool {
		if match(hash) {
			matched = hash
			return true
		}
		return false
	})
	if !ok {
		return nil, false, false
	}
	for _, s := range rec.Secrets {
		if s.Hash == matched {
			return via, s.NotAfter != nil, true
		}
	}
	return via, false, true
}

// isFederated tells a Federated client's workload token from a
// private_key_jwt assertion: by the named client's type, or without
// client_id by the token's issuer, which for an assertion is a client_id.
func (a *Authenticator) isFederated(c Credentials) bool {
	if c.ClientID != "" {
		rec := a.Index.Record(c.ClientID)
		return rec != nil && rec.Type == record.TypeFederated
	}
	return isFederatedAssertion(c)
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

func (a *Authenticator) clientSecret(c Credentials, now time.Time) (*record.Record, bool, *Failure) {
	rec, f := a.lookup(c.ClientID, record.TypeClientSecret)
	if f != nil {
		return nil, false, f
	}
	hasher := a.Index.Hasher()
	if hasher == nil {
		return nil, false, fail(CodeUnavailable, ReasonNotReady, "the server has not loaded its keys yet")
	}
	if credential.CheckSecret(credential.ClientSecretKind, c.Secret) != nil {
		return nil, false, fail(CodeInvalidClient, ReasonMalformedSecret, "client authentication failed")
	}
	if via, previous, ok := matchSecret(rec, now, func(hash string) bool {
		ok, _ := hasher.Verify(credential.SecretDomain, c.Secret, hash)
		return ok
	}); ok {
		return via, previous, nil
	}
	return nil, false, fail(CodeInvalidClient, ReasonWrongSecret, "client authentication failed")
}

// apiKey finds the record by the key's hash under each hash key, then
// confirms the match is a hash still accepted, comparing in constant time.
func (a *Authenticator) apiKey(c Credentials, now time.Time) (*record.Record, bool, *Failure) {
	hasher := a.Index.Hasher()
	if hasher == nil {
		return nil, false, fail(CodeUnavailable, ReasonNotReady, "the server has not loaded its keys yet")
	}
	if credential.CheckSecret(credential.APIKeyKind, c.Secret) != nil {
		return nil, false, fail(CodeInvalidClient, ReasonMalformedSecret, "the API key is not valid")
	}
	rec, matched := a.Index.RecordByAPIKeyHash(hasher.HashAll(credential.SecretDomain, c.Secret))
	if rec == nil {
		return nil, false, fail(CodeInvalidClient, ReasonWrongSecret, "the API key is not valid")
	}
	if via, previous, ok := matchSecret(rec, now, func(hash string) bool {
		if hash != matched {
			return false
		}
		ok, err := hasher.Verify(credential.SecretDomain, c.Secret, hash)
		return ok && err == nil
	}); ok {
		return via, previous, nil
	}
	return nil, false, fail(CodeInvalidClient, ReasonWrongSecret, "the API key is not valid")
}
