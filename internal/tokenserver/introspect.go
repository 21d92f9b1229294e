package tokenserver

import (
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/accesstoken"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/form"
)

// Introspection is the RFC 7662 2.2 response.
type Introspection struct {
	Active    bool             `json:"active"`
	Scope     string           `json:"scope,omitempty"`
	ClientID  string           `json:"client_id,omitempty"`
	Subject   string           `json:"sub,omitempty"`
	Audience  jwt.ClaimStrings `json:"aud,omitempty"`
	Issuer    string           `json:"iss,omitempty"`
	ExpiresAt int64            `json:"exp,omitempty"`
	IssuedAt  int64            `json:"iat,omitempty"`
	JTI       string           `json:"jti,omitempty"`
	TokenType string           `json:"token_type,omitempty"`
}

// Introspection entitlements (RFC 7662 section 4: the server must decide
// which callers may learn about which tokens). A client always learns about
// its own tokens. Other clients need one of these scopes granted to their
// account through an AccessRule, so the escalation guard (RBAC verb "grant"
// on scopes.iam.signet.dev/<scope>) governs who hands them out:
const (
	// IntrospectScope entitles a client to the tokens of every client in its
	// own namespace.
	IntrospectScope = "signet:introspect"
	// IntrospectAudiencePrefix followed by an audience entitles a client to
	// the tokens carrying that audience, from any namespace: the grant an
	// API needs to introspect the tokens presented to it.
	IntrospectAudiencePrefix = "signet:introspect:"
)

// introspectionCacheSize is how many verified tokens introspection
// remembers: enough for the tokens an API sees within their lifetime at
// thousands of clients, at under 20 MB.
const introspectionCacheSize = 10000

func anyMethod(clientauth.Method) bool { return true }

// readTokenRequest authenticates the caller of introspection or revocation
// and returns the "token" parameter; on failure it has answered.
func (s *Server) readTokenRequest(w http.ResponseWriter, r *http.Request, a *audit) (*record.Record, string) {
	f, err := form.Read(r)
	if err != nil {
		s.refuse(w, a, badRequest(err.Error()))
		return nil, ""
	}
	rec, oerr := s.authenticate(r, f, a, anyMethod)
	if oerr != nil {
		s.refuse(w, a, oerr)
		return nil, ""
	}
	token := f.Get("token")
	if token == "" {
		s.refuse(w, a, badRequest("token is required"))
		return nil, ""
	}
	return rec, token
}

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	a := newAudit(r, "introspect")
	defer s.writeAudit(r.Context(), a)
	if caller, token := s.readTokenRequest(w, r, a); token != "" {
		a.outcome = "success"
		writeJSON(w, http.StatusOK, s.Introspect(caller, token))
	}
}

// Introspect says whether a token is active now, as the authenticated
// caller may learn it. A token is inactive when it does not verify, has
// expired, was revoked, or when its client's current record no longer backs
// it: the record is gone or unusable, the token predates the record's
// revocation epoch, or a scope or audience it carries is no longer granted.
// A caller not entitled to the token gets the same {"active": false} as for
// an unknown token, so that introspection tells it nothing.
func (s *Server) Introspect(caller *record.Record, token string) Introspection {
	now := s.cfg.Now()
	c, err := s.verified.Verify(token, s.cfg.Index.Keys(), s.cfg.Issuer, now)
	if err != nil {
		return Introspection{Active: false}
	}
	owner := s.cfg.Index.Record(c.ClientID)
	if owner == nil || !entitled(caller, owner, c) || !s.stillBacked(owner, c, now) {
		return Introspection{Active: false}
	}
	return Introspection{
		Active: true, Scope: c.Scope, ClientID: c.ClientID, Subject: c.Subject,
		Audience: c.Audience, Issuer: c.Issuer, ExpiresAt: c.ExpiresAt.Unix(),
		IssuedAt: c.IssuedAt.Unix(), JTI: c.ID, TokenType: "Bearer",
	}
}

// entitled reports whether caller may learn about a token of owner's.
func entitled(caller, owner *record.Record, c *accesstoken.Claims) bool {
	switch {
	case caller == nil:
		return false
	case caller.ClientID == owner.ClientID:
		return true
	case caller.Namespace == owner.Namespace && caller.HasScopes([]string{IntrospectScope}):
		return true
	}
	for _, aud := range c.Audience {
		if caller.HasScopes([]string{IntrospectAudiencePrefix + aud}) {
			return true
		}
	}
	return false
}

func (s *Server) stillBacked(rec *record.Record, c *accesstoken.Claims, now time.Time) bool {
	issued, ok := accesstoken.IssuedAt(c.ID)
	if !ok || s.cfg.Index.TokenRevoked(c.ClientID, c.ID, issued) {
		return false
	}
	// The default audience is not a grant; it cannot be withdrawn.
	return rec.Subject == c.Subject && rec.Backs(issued, now, c.Scopes(), c.Audience, s.cfg.DefaultAudience)
}
