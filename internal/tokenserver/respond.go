package tokenserver

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
)

// oauthError is an error response (RFC 6749 5.2). Description goes to the
// client and must never hold request data.
type oauthError struct {
	Code        string
	Description string
	// Reason is the audit and metric reason: a fixed vocabulary.
	Reason string
	// Basic: the client used HTTP Basic, so a 401 carries WWW-Authenticate.
	Basic bool
	// RetryAfter is set when the request was rate limited.
	RetryAfter time.Duration
	// Counts: the failure counts against the rate limits.
	Counts bool
}

func fromFailure(f *clientauth.Failure) *oauthError {
	return &oauthError{Code: f.Code, Description: f.Description, Reason: f.Reason, Basic: f.Basic, Counts: f.Counts(), RetryAfter: f.RetryAfter}
}

func badRequest(description string) *oauthError {
	return &oauthError{Code: clientauth.CodeInvalidRequest, Description: description, Reason: reasonBadRequest}
}

func (e *oauthError) status() int {
	switch {
	case e.RetryAfter > 0:
		return http.StatusTooManyRequests
	case e.Code == clientauth.CodeInvalidClient:
		return http.StatusUnauthorized
	case e.Code == clientauth.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// statusWriter remembers the status for the latency metric.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// instrument measures a handler and, for the endpoints that take
// credentials or hand out tokens, forbids caching (RFC 6749 5.1).
func (s *Server) instrument(endpoint string, h http.HandlerFunc) http.Handler {
	noStore := endpoint == "token" || endpoint == "introspect" || endpoint == "revoke"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if noStore {
			w.Header().Set("Cache-Control", "no-store")
			w.Header().Set("Pragma", "no-cache")
		}
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		s.metrics.latency.WithLabelValues(endpoint, strconv.Itoa(sw.code)).Observe(time.Since(start).Seconds())
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) writeError(w http.ResponseWriter, endpoint string, e *oauthError) {
	if e.Basic && e.Code == clientauth.CodeInvalidClient {
		w.Header().Set("WWW-Authenticate", `Basic realm="signet", charset="UTF-8"`)
	}
	if e.RetryAfter > 0 {
		secs := int((e.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	s.metrics.failures.WithLabelValues(endpoint, e.Reason).Inc()
	writeJSON(w, e.status(), map[string]string{"error": e.Code, "error_description": e.Description})
}

// audit is the one line each request to an authenticating endpoint leaves.
// It holds who and what, never a secret, hash, assertion or token.
type audit struct {
	endpoint, grant, source string
	method                  clientauth.Method
	clientID, subject       string
	authenticated           bool
	outcome, reason         string
	// skip: a failure refused by the rate limits that is counted, not
	// logged; suppressed is how many such failures the line stands for.
	skip       bool
	suppressed int
}

func newAudit(r *http.Request, endpoint string) *audit {
	return &audit{endpoint: endpoint, source: sourceIP(r), outcome: "failure"}
}

func (s *Server) writeAudit(ctx context.Context, a *audit) {
	if a.skip {
		return
	}
	s.cfg.Log.LogAttrs(ctx, slog.LevelInfo, "Authentication",
		slog.String("audit", "authentication"),
		slog.String("endpoint", a.endpoint),
		slog.String("client_id", a.clientID),
		slog.String("subject", a.subject),
		slog.String("grant_type", auditGrant(a.grant)),
		slog.String("method", string(a.method)),
		slog.Bool("authenticated", a.authenticated),
		slog.String("outcome", a.outcome),
		slog.String("reason", a.reason),
		slog.String("source", a.source),
		slog.Int("suppressed", a.suppressed),
	)
}

// auditGrant keeps unknown grant types out of the log: a client could put
// anything there.
func auditGrant(g string) string {
	if g == "" || supportedGrant(g) {
		return g
	}
	return "unsupported"
}

// sourceIP is the peer address. Forwarded headers are not trusted: a
// client could set them to dodge the per-source limit.
func sourceIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sourceKey carries the source address of a request to the authenticator.
type sourceKey struct{}

// withSource is r's context carrying its source address, for the report of
// previous-secret uses.
func withSource(r *http.Request) context.Context {
	return context.WithValue(r.Context(), sourceKey{}, sourceIP(r))
}

// previousSecretUsed adapts report to the authenticator's hook.
func previousSecretUsed(report func(clientID, source string)) func(context.Context, string) {
	if report == nil {
		return nil
	}
	return func(ctx context.Context, clientID string) {
		source, _ := ctx.Value(sourceKey{}).(string)
		report(clientID, source)
	}
}
