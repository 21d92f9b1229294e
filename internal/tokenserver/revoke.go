package tokenserver

import (
	"net/http"

	"github.com/signet-iam/signet/internal/tokenserver/accesstoken"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
)

const (
	reasonForeignToken = "foreign_token"
	reasonLedger       = "ledger_unavailable"
)

// revoke implements RFC 7009. A token that does not verify (unknown,
// malformed, expired) gets 200, as 2.2 asks. A token of another client is
// refused. A revocation that could not be recorded gets 503, never 200: the
// client must not believe a token dead that still works.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) {
	a := newAudit(r, "revoke")
	defer s.writeAudit(r.Context(), a)
	rec, token := s.readTokenRequest(w, r, a)
	if rec == nil {
		return
	}
	now := s.cfg.Now()
	c, err := accesstoken.Verify(token, s.cfg.Index.Keys(), s.cfg.Issuer, now)
	if err != nil {
		a.outcome, a.reason = "success", "token_not_active"
		w.WriteHeader(http.StatusOK)
		return
	}
	if c.ClientID != rec.ClientID {
		s.refuse(w, a, &oauthError{Code: clientauth.CodeUnauthorizedClient, Reason: reasonForeignToken,
			Description: "the token was issued to another client"})
		return
	}
	issued, _ := accesstoken.IssuedAt(c.ID)
	if !s.cfg.Index.TokenRevoked(c.ClientID, c.ID, issued) {
		if err := s.cfg.Ledger.Revoke(r.Context(), c.ID, c.ClientID, issued, c.ExpiresAt.Time); err != nil {
			s.cfg.Log.Error("Recording a revocation failed", "client_id", c.ClientID, "error", err.Error())
			s.refuse(w, a, &oauthError{Code: clientauth.CodeUnavailable, Reason: reasonLedger,
				Description: "the revocation could not be recorded; retry"})
			return
		}
		s.cfg.Index.Revoke(c.ID, c.ExpiresAt.Time)
	}
	a.outcome = "success"
	w.WriteHeader(http.StatusOK)
}
