package tokenserver

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver/accesstoken"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/form"
)

// Reasons for refusals after authentication, in audit lines and metrics.
const (
	reasonBadRequest       = "invalid_request"
	reasonUnsupportedGrant = "unsupported_grant_type"
	reasonGrantMethod      = "grant_method_mismatch"
	reasonScope            = "invalid_scope"
	reasonTarget           = "invalid_target"
	reasonNoSigningKey     = "no_signing_key"
	reasonRateLimited      = "rate_limited"
	reasonSigning          = "signing_failed"
)

// tokenResponse is RFC 6749 5.1, plus IBM's "expiration" and RFC 8693's
// issued_token_type.
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Expiration      int64  `json:"expiration"`
	Scope           string `json:"scope,omitempty"`
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	a := newAudit(r, "token")
	defer s.writeAudit(r.Context(), a)
	f, err := form.Read(r)
	if err != nil {
		s.refuse(w, a, badRequest(err.Error()))
		return
	}
	a.grant = f.Get("grant_type")
	g := findGrant(a.grant)
	switch {
	case a.grant == "":
		s.refuse(w, a, badRequest("grant_type is required"))
		return
	case g == nil:
		s.refuse(w, a, &oauthError{Code: "unsupported_grant_type", Reason: reasonUnsupportedGrant,
			Description: "supported grant types are " + strings.Join(grantNames(), ", ")})
		return
	}
	rec, use, oerr := s.check(r, f, a, g)
	if oerr != nil {
		s.refuse(w, a, oerr)
		return
	}
	resp, oerr := s.issue(r.Context(), rec, use, f)
	if oerr != nil {
		s.refuse(w, a, oerr)
		return
	}
	resp.IssuedTokenType = g.issuedTokenType
	a.outcome = "success"
	s.metrics.issued.WithLabelValues(g.label).Inc()
	writeJSON(w, http.StatusOK, resp)
}

// refuse answers with an error and notes it in the audit line.
func (s *Server) refuse(w http.ResponseWriter, a *audit, e *oauthError) {
	a.outcome, a.reason = "failure", e.Reason
	s.writeError(w, a.endpoint, e)
}

// authenticate runs client authentication for introspection and
// revocation and records an assertion's jti. It returns the client's
// record, or the error to answer with; the caller answers.
func (s *Server) authenticate(r *http.Request, f form.Values, a *audit, allowed func(clientauth.Method) bool) (*record.Record, *oauthError) {
	rec, use, oerr := s.check(r, f, a, &grantType{credentials: clientauth.Extract, allows: allowed})
	if oerr != nil {
		return nil, oerr
	}
	if fl := use.Record(r.Context()); fl != nil {
		return nil, fromFailure(fl)
	}
	return rec, nil
}

// check authenticates the client without writing anything: it returns the
// client's record, or the error to answer with, and the caller answers.
// Every credential is checked, so a correct one is served whatever failed
// before it; the failure limits only decide how a failure is answered and
// audited.
func (s *Server) check(r *http.Request, f form.Values, a *audit, g *grantType) (*record.Record, *clientauth.Use, *oauthError) {
	creds, fl := g.credentials(r.Header, f)
	a.method, a.clientID = creds.Method, creds.AuditClientID()
	if fl == nil && creds.Method == clientauth.MethodJWT && a.clientID == "" {
		if iss, err := clientauth.PeekIssuer(creds.Assertion); err == nil && credential.ValidClientID(iss) {
			a.clientID = iss
		}
	}
	if fl == nil && !g.allows(creds.Method) {
		fl = &clientauth.Failure{Code: clientauth.CodeInvalidRequest, Reason: reasonGrantMethod,
			Description: "the API-key grant takes only the apikey parameter, and client_credentials never takes it"}
	}
	var (
		rec *record.Record
		use *clientauth.Use
	)
	if fl == nil {
		rec, use, fl = s.auth.Check(withSource(r), creds)
	}
	if fl == nil {
		a.authenticated, a.clientID, a.subject = true, rec.ClientID, rec.Subject
		if rec.Type == record.TypeFederated {
			a.method = clientauth.MethodFederated
		}
		return rec, use, nil
	}
	e := fromFailure(fl)
	if g.failureCode != "" && e.Code == clientauth.CodeInvalidClient {
		e.Code, e.Basic = g.failureCode, false
	}
	if e.Counts {
		v := s.limiter.Fail(a.source, a.clientID, s.cfg.Now())
		a.skip, a.suppressed = !v.Audit, v.Suppressed
		if v.Limited {
			s.metrics.limited.WithLabelValues(a.endpoint).Inc()
			e = &oauthError{Code: clientauth.CodeUnavailable, Reason: reasonRateLimited,
				Description: "too many failed authentications; retry later", RetryAfter: v.RetryAfter}
		}
	}
	return nil, nil, e
}

// issue checks what is asked for against the grants, then records the
// assertion's use (the only write of the token path, done last), then mints.
func (s *Server) issue(ctx context.Context, rec *record.Record, use *clientauth.Use, f form.Values) (*tokenResponse, *oauthError) {
	now := s.cfg.Now()
	if !rec.GrantsInForce(now) {
		// A rule behind the grants expired and the manager has not yet
		// recompiled them: grant nothing until it has.
		c := *rec
		c.Scopes, c.Audiences = nil, nil
		rec = &c
	}
	scopes, oerr := grantScopes(rec, f.Get("scope"))
	if oerr != nil {
		return nil, oerr
	}
	auds, oerr := s.grantAudiences(rec, f)
	if oerr != nil {
		return nil, oerr
	}
	key := s.signingKey(now)
	if key == nil {
		return nil, &oauthError{Code: clientauth.CodeUnavailable, Reason: reasonNoSigningKey, Description: "no signing key is available"}
	}
	if fl := use.Record(ctx); fl != nil {
		return nil, fromFailure(fl)
	}
	jti, err := accesstoken.NewID(now)
	if err != nil {
		return nil, &oauthError{Code: clientauth.CodeUnavailable, Reason: reasonSigning, Description: "the token could not be issued"}
	}
	exp := rec.TokenExpiry(now)
	claims := &accesstoken.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: s.cfg.Issuer, Subject: rec.Subject, Audience: auds,
			ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), ID: jti,
		},
		ClientID: rec.ClientID,
		Scope:    strings.Join(scopes, " "),
	}
	tok, err := accesstoken.Mint(key, claims)
	if err != nil {
		return nil, &oauthError{Code: clientauth.CodeUnavailable, Reason: reasonSigning, Description: "the token could not be issued"}
	}
	return &tokenResponse{
		AccessToken: tok, TokenType: "Bearer",
		ExpiresIn: exp.Unix() - now.Unix(), Expiration: exp.Unix(),
		Scope: claims.Scope,
	}, nil
}

// grantScopes is every granted scope when none is asked for, else the
// asked-for ones, all of which must be granted (RFC 6749 3.3).
func grantScopes(rec *record.Record, requested string) ([]string, *oauthError) {
	if requested == "" {
		return rec.Scopes, nil
	}
	var want []string
	for _, sc := range strings.Split(requested, " ") {
		if !validScopeToken(sc) {
			return nil, &oauthError{Code: "invalid_scope", Reason: reasonScope, Description: "scope is malformed"}
		}
		if !slices.Contains(want, sc) {
			want = append(want, sc)
		}
	}
	if !rec.HasScopes(want) {
		return nil, &oauthError{Code: "invalid_scope", Reason: reasonScope, Description: "a requested scope is not granted to the client"}
	}
	slices.Sort(want)
	return want, nil
}

// validScopeToken follows RFC 6749 3.3: printable ASCII except space, '"'
// and '\'.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// grantAudiences handles RFC 8707 "resource" and RFC 8693 "audience": each
// may repeat, and every value must be one of the record's audiences.
// Without either, the token is for all of the record's audiences, or for
// the default audience when the record has none.
func (s *Server) grantAudiences(rec *record.Record, f form.Values) ([]string, *oauthError) {
	var want []string
	for _, v := range append(f.All("resource"), f.All("audience")...) {
		if !slices.Contains(want, v) {
			want = append(want, v)
		}
	}
	if len(want) == 0 {
		if len(rec.Audiences) == 0 {
			return []string{s.cfg.DefaultAudience}, nil
		}
		return rec.Audiences, nil
	}
	for _, v := range want {
		if !rec.HasAudience(v) {
			return nil, &oauthError{Code: "invalid_target", Reason: reasonTarget, Description: "a requested resource or audience is not granted to the client"}
		}
	}
	return want, nil
}

func (s *Server) signingKey(now time.Time) *signing.Key {
	if keys := s.cfg.Index.Keys(); keys != nil {
		return keys.Current(now)
	}
	return nil
}
