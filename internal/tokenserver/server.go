// Package tokenserver is Signet's OAuth2 authorization server: the token
// (RFC 6749 4.4, RFC 7523, Signet's API-key grant), introspection (RFC 7662)
// and revocation (RFC 7009) endpoints, discovery (RFC 8414) and the JWKS,
// all answered from the in-memory index of the credential records.
package tokenserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signet-iam/signet/internal/tokenserver/accesstoken"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/index"
	"github.com/signet-iam/signet/internal/tokenserver/jwks"
	"github.com/signet-iam/signet/internal/tokenserver/ratelimit"
)

// Paths of the endpoints, below the issuer's path.
const (
	TokenPath      = "/oauth2/token"
	IntrospectPath = "/oauth2/introspect"
	RevokePath     = "/oauth2/revoke"
	JWKSPath       = "/oauth2/jwks"
	OIDCConfigPath = "/.well-known/openid-configuration"
	OAuthMetaPath  = "/.well-known/oauth-authorization-server"
)

// Ledger is where state that must hold across replicas and restarts is
// written: used assertion jtis and revoked tokens.
type Ledger interface {
	clientauth.ReplayGuard
	// Revoke records a revoked token, issued at issued, until exp.
	// Recording one twice is not an error.
	Revoke(ctx context.Context, jti, clientID string, issued, exp time.Time) error
}

// Source reports on what feeds the index.
type Source interface {
	// Synced reports whether the first full read completed.
	Synced() bool
	// Connection reports whether the API server is reachable, since when,
	// and when it was last reached.
	Connection() (connected bool, since, lastContact time.Time)
}

// Config configures a Server.
type Config struct {
	// Issuer is the issuer identifier: the iss of every token and the only
	// audience accepted in a client assertion. An absolute URL.
	Issuer string
	// DefaultAudience is the aud of tokens of clients whose record lists
	// no audiences. Default: Issuer.
	DefaultAudience string
	Index           *index.Index
	Ledger          Ledger
	Source          Source
	// Log receives server and audit lines. Default: slog.Default().
	Log *slog.Logger
	// Limits on failed authentications. Default: ratelimit.DefaultConfig.
	Limits *ratelimit.Config
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Federation checks Federated clients' workload tokens. Default: the
	// keys of other issuers fetched with http.DefaultClient's transport and
	// the cluster's own tokens refused (no TokenReviewer).
	Federation *clientauth.Federation
	// PreviousSecretUsed, when set, is told of each authentication with a
	// previous secret in grace and the source address it came from. It
	// must not block: it runs on the request path.
	PreviousSecretUsed func(clientID, source string)
}

// Server serves the endpoints. Create it with New.
type Server struct {
	cfg       Config
	prefix    string
	auth      *clientauth.Authenticator
	limiter   *ratelimit.Limiter
	metrics   *metrics
	registry  *prometheus.Registry
	discovery []byte
	// verified caches introspected tokens' signatures.
	verified *accesstoken.Cache
}

// New checks cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	u, err := url.Parse(cfg.Issuer)
	if err != nil || !u.IsAbs() || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("the issuer must be an absolute URL without query or fragment")
	}
	if cfg.Index == nil || cfg.Ledger == nil || cfg.Source == nil {
		return nil, errors.New("the index, ledger and source are required")
	}
	if cfg.DefaultAudience == "" {
		cfg.DefaultAudience = cfg.Issuer
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Federation == nil {
		cfg.Federation = &clientauth.Federation{Keys: &jwks.Cache{}}
	}
	limits := ratelimit.DefaultConfig
	if cfg.Limits != nil {
		limits = *cfg.Limits
	}
	s := &Server{
		cfg:    cfg,
		prefix: strings.TrimSuffix(u.Path, "/"),
		auth: &clientauth.Authenticator{Index: cfg.Index, Issuer: cfg.Issuer, Replay: cfg.Ledger, Now: cfg.Now,
			Federation: cfg.Federation, PreviousSecretUsed: previousSecretUsed(cfg.PreviousSecretUsed)},
		limiter: ratelimit.New(limits),

		verified: accesstoken.NewCache(introspectionCacheSize),
	}
	s.registry, s.metrics = newMetrics(cfg.Index, cfg.Source)
	if s.discovery, err = s.discoveryDocument(); err != nil {
		return nil, fmt.Errorf("rendering discovery: %w", err)
	}
	return s, nil
}

// Handler serves the OAuth2 endpoints, discovery and the JWKS.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle(s.prefix+TokenPath, s.instrument("token", s.token))
	mux.Handle(s.prefix+IntrospectPath, s.instrument("introspect", s.introspect))
	mux.Handle(s.prefix+RevokePath, s.instrument("revoke", s.revoke))
	mux.Handle(s.prefix+JWKSPath, s.instrument("jwks", s.jwks))
	// OpenID Connect appends the well-known path to the issuer; RFC 8414 3
	// inserts it before the issuer's path. Serve both.
	discovery := s.instrument("discovery", s.serveDiscovery)
	mux.Handle(s.prefix+OIDCConfigPath, discovery)
	mux.Handle(OAuthMetaPath+s.prefix, discovery)
	if s.prefix != "" {
		mux.Handle(s.prefix+OAuthMetaPath, discovery)
	}
	return mux
}

// ProbeHandler serves /healthz, /readyz and /metrics.
func (s *Server) ProbeHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("/readyz", s.readyz)
	mux.Handle("/metrics", s.metricsHandler())
	return mux
}

// AllHandler serves everything on one listener.
func (s *Server) AllHandler() http.Handler {
	mux := http.NewServeMux()
	probes := s.ProbeHandler()
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		mux.Handle(p, probes)
	}
	mux.Handle("/", s.Handler())
	return mux
}

// Registry is where the server's metrics are registered; the caller may add
// its own.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

func (s *Server) url(path string) string { return strings.TrimSuffix(s.cfg.Issuer, "/") + path }
