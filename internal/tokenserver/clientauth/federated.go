package clientauth

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/federation"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/jwks"
)

// MethodFederated is a Federated client presenting a workload token from
// an issuer it trusts: as an RFC 7523 client assertion, or as an RFC 8693
// subject_token. It is the method of audit lines and metrics; on the wire
// the assertion form is private_key_jwt's.
const MethodFederated Method = "federated_jwt"

// Reasons a workload token is refused.
const (
	ReasonFederatedMalformed   = "federated_token_malformed"
	ReasonFederatedUnknown     = "federated_unknown_subject"
	ReasonFederatedAmbiguous   = "federated_ambiguous_subject"
	ReasonFederatedSignature   = "federated_signature"
	ReasonFederatedKey         = "federated_unknown_key"
	ReasonFederatedKeysDown    = "federated_keys_unavailable"
	ReasonFederatedIssuer      = "federated_issuer"
	ReasonFederatedAudience    = "federated_audience"
	ReasonFederatedSubject     = "federated_subject"
	ReasonFederatedLifetime    = "federated_lifetime"
	ReasonFederatedClaims      = "federated_claims"
	ReasonFederatedReview      = "federated_review_refused"
	ReasonFederatedReviewError = "federated_review_unavailable"
)

// TokenReviewer asks the API server whether a ServiceAccount token is
// valid now for audience: signed by this cluster, unexpired, and bound to
// a pod and ServiceAccount that still exist.
type TokenReviewer interface {
	Review(ctx context.Context, token, audience string) (Review, error)
}

// Review is a TokenReview's answer.
type Review struct {
	Authenticated bool
	// Username is system:serviceaccount:<namespace>:<name>.
	Username  string
	Audiences []string
}

// Federation checks workload tokens for Federated records: tokens of other
// issuers against their keys (Keys), this cluster's ServiceAccount tokens
// with a TokenReview (Reviewer; nil refuses them).
type Federation struct {
	Keys     *jwks.Cache
	Reviewer TokenReviewer

	// rules caches compiled claim rules by their text.
	rules sync.Map
}

// federatedClaims are a workload token's claims: the registered ones for
// the checks, all of them for the claim rule.
type federatedClaims struct {
	jwt.RegisteredClaims
	all map[string]any
}

// peekFederated reads iss and sub of a workload token without verifying
// it, only to find the credential that trusts them.
func peekFederated(token string) (iss, sub string, err error) {
	if err := CheckAssertionShape(token); err != nil {
		return "", "", err
	}
	var c jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &c); err != nil {
		return "", "", errors.New("token is malformed")
	}
	return c.Issuer, c.Subject, nil
}

// federatedRecord finds the Federated record a workload token is for: the
// named client's, or without client_id the one that trusts the token's
// issuer and subject. A ServiceAccount token's own iss is this cluster's
// issuer, which records leave empty, so both are tried.
func (a *Authenticator) federatedRecord(c Credentials, iss, sub string) (*record.Record, *Failure) {
	if c.ClientID != "" {
		return a.lookup(c.ClientID, record.TypeFederated)
	}
	recs := a.Index.RecordsByFederation(iss, sub)
	if len(recs) == 0 && iss != "" {
		recs = a.Index.RecordsByFederation("", sub)
	}
	switch len(recs) {
	case 0:
		return nil, fail(CodeInvalidClient, ReasonFederatedUnknown, "no credential trusts this token's issuer and subject")
	case 1:
		return recs[0], nil
	}
	return nil, fail(CodeInvalidClient, ReasonFederatedAmbiguous, "several credentials trust this token's issuer and subject; send client_id")
}

// federated verifies a workload token for a Federated credential and
// returns the record capped at the token's expiry, so that no access token
// outlives the token it was exchanged for. A workload token may be
// exchanged again within its lifetime (no issuer Signet federates with
// marks its tokens single-use), so nothing is recorded.
func (a *Authenticator) federated(ctx context.Context, c Credentials, now time.Time) (proof, *Failure) {
	iss, sub, err := peekFederated(c.Assertion)
	if err != nil {
		return proof{}, fail(CodeInvalidClient, ReasonFederatedMalformed, "the workload token is malformed")
	}
	rec, f := a.federatedRecord(c, iss, sub)
	if f != nil {
		return proof{}, f
	}
	if a.Federation == nil {
		return proof{}, fail(CodeInvalidClient, ReasonWrongMethod, "this server does not accept workload tokens")
	}
	fed := rec.Federation
	var claims *federatedClaims
	if fed.Issuer == "" {
		claims, f = a.Federation.verifyCluster(ctx, c.Assertion, rec, now)
	} else {
		claims, f = a.Federation.verifyExternal(ctx, c.Assertion, fed, now)
	}
	if f != nil {
		return proof{}, f
	}
	if f := a.Federation.matchClaims(fed.Claims, claims.all); f != nil {
		return proof{}, f
	}
	exp := claims.ExpiresAt.Time
	return proof{rec: rec.Until(&exp)}, nil
}

// verifyExternal checks a token of another issuer: its signature with the
// issuer's key named by kid (the key, not the header, fixes the family of
// algorithms, and only asymmetric ones are taken), then iss, aud, sub,
// exp, nbf and iat with ClockSkew.
func (f *Federation) verifyExternal(ctx context.Context, token string, fed *record.Federation, now time.Time) (*federatedClaims, *Failure) {
	var keyErr *Failure
	keyfunc := func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			keyErr = fail(CodeInvalidClient, ReasonFederatedSignature, "the workload token has critical header parameters")
			return nil, errors.New("crit")
		}
		kid, _ := t.Header["kid"].(string)
		k, err := f.Keys.Key(ctx, fed.Issuer, fed.JWKSURL, kid)
		switch {
		case errors.Is(err, jwks.ErrUnknownKey):
			keyErr = fail(CodeInvalidClient, ReasonFederatedKey, "the workload token's kid names none of its issuer's keys")
			return nil, err
		case err != nil:
			keyErr = fail(CodeUnavailable, ReasonFederatedKeysDown, "the keys of the workload token's issuer cannot be fetched; try again")
			return nil, err
		}
		alg := t.Method.Alg()
		if (k.Algorithm != "" && k.Algorithm != alg) || !keyFits(k.Key, alg) {
			keyErr = fail(CodeInvalidClient, ReasonFederatedSignature, "the workload token's algorithm does not match its issuer's key")
			return nil, errors.New("alg")
		}
		return k.Key, nil
	}
	p := strictParser(now, jwt.WithIssuer(fed.Issuer), jwt.WithAudience(fed.Audience), jwt.WithSubject(fed.Subject))
	all := jwt.MapClaims{}
	if _, err := p.ParseWithClaims(token, all, keyfunc); err != nil {
		if keyErr != nil {
			return nil, keyErr
		}
		return nil, federatedParseFailure(err)
	}
	return toClaims(all)
}

// federatedParseFailure names what a workload token failed.
func federatedParseFailure(err error) *Failure {
	switch {
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return fail(CodeInvalidClient, ReasonFederatedIssuer, "the workload token is from another issuer")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return fail(CodeInvalidClient, ReasonFederatedAudience, "the workload token is for another audience")
	case errors.Is(err, jwt.ErrTokenInvalidSubject):
		return fail(CodeInvalidClient, ReasonFederatedSubject, "the workload token is for another subject")
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet),
		errors.Is(err, jwt.ErrTokenUsedBeforeIssued), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fail(CodeInvalidClient, ReasonFederatedLifetime, "the workload token is expired, not yet valid, or lacks exp")
	}
	return fail(CodeInvalidClient, ReasonFederatedSignature, "the workload token is invalid")
}

// verifyCluster checks one of this cluster's ServiceAccount tokens: its
// subject must be a ServiceAccount of the credential's own namespace, and a
// TokenReview must find it valid for the audience now. The review is what
// makes deleting the pod or the ServiceAccount stop the next exchange; the
// claims read here are the ones it vouched for.
func (f *Federation) verifyCluster(ctx context.Context, token string, rec *record.Record, now time.Time) (*federatedClaims, *Failure) {
	fed := rec.Federation
	if !federation.SubjectInNamespace(fed.Subject, rec.Namespace) {
		return nil, fail(CodeInvalidClient, ReasonFederatedSubject, "the credential trusts a ServiceAccount of another namespace")
	}
	all := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(token, all); err != nil {
		return nil, fail(CodeInvalidClient, ReasonFederatedMalformed, "the workload token is malformed")
	}
	claims, fl := toClaims(all)
	if fl != nil {
		return nil, fl
	}
	if claims.ExpiresAt == nil || !now.Before(claims.ExpiresAt.Add(ClockSkew)) {
		return nil, fail(CodeInvalidClient, ReasonFederatedLifetime, "the workload token is expired, not yet valid, or lacks exp")
	}
	if f.Reviewer == nil {
		return nil, fail(CodeInvalidClient, ReasonWrongMethod, "this server does not accept this cluster's ServiceAccount tokens")
	}
	r, err := f.Reviewer.Review(ctx, token, fed.Audience)
	switch {
	case err != nil:
		return nil, fail(CodeUnavailable, ReasonFederatedReviewError, "the ServiceAccount token could not be checked; try again")
	case !r.Authenticated:
		return nil, fail(CodeInvalidClient, ReasonFederatedReview, "the ServiceAccount token is not valid: expired, for another audience, or of a deleted pod or ServiceAccount")
	case r.Username != fed.Subject || claims.Subject != fed.Subject:
		return nil, fail(CodeInvalidClient, ReasonFederatedSubject, "the workload token is for another subject")
	case !slices.Contains(r.Audiences, fed.Audience):
		return nil, fail(CodeInvalidClient, ReasonFederatedAudience, "the workload token is for another audience")
	}
	return claims, nil
}

// toClaims reads the registered claims out of a verified claim map.
func toClaims(all jwt.MapClaims) (*federatedClaims, *Failure) {
	exp, err1 := all.GetExpirationTime()
	sub, err2 := all.GetSubject()
	if err1 != nil || err2 != nil || exp == nil {
		return nil, fail(CodeInvalidClient, ReasonFederatedLifetime, "the workload token is expired, not yet valid, or lacks exp")
	}
	c := &federatedClaims{all: all}
	c.ExpiresAt, c.Subject = exp, sub
	return c, nil
}

// matchClaims applies the credential's claim rule, compiled once per text.
// A rule that does not compile refuses every token: the manager reports it
// on the ClientCredential.
func (f *Federation) matchClaims(expr string, claims map[string]any) *Failure {
	if expr == "" {
		return nil
	}
	var rule *federation.ClaimRule
	if v, ok := f.rules.Load(expr); ok {
		rule, _ = v.(*federation.ClaimRule)
	} else {
		r, err := federation.CompileClaims(expr)
		if err == nil {
			rule = r
		}
		f.rules.Store(expr, rule)
	}
	if rule == nil || rule.Match(claims) != nil {
		return fail(CodeInvalidClient, ReasonFederatedClaims, "the workload token's claims do not satisfy the credential's claim rule")
	}
	return nil
}

// isFederatedAssertion reports whether an assertion sent without a
// Federated client_id is a workload token rather than a private_key_jwt
// assertion, whose iss is always a Signet client_id.
func isFederatedAssertion(c Credentials) bool {
	iss, _, err := peekFederated(c.Assertion)
	return err == nil && iss != "" && !credential.ValidClientID(iss)
}
