package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/uuid"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/signet-iam/signet/internal/tokenserver"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/index"
	"github.com/signet-iam/signet/internal/tokenserver/jwks"
	"github.com/signet-iam/signet/internal/tokenserver/kube"
)

// listening, when set, receives the bound addresses (main, then probe if
// any) once the listeners are open; tests use it with port 0.
type listening func(main, probe net.Addr)

// run serves until ctx ends, then drains in-flight requests.
func run(ctx context.Context, o options, restCfg *rest.Config, log *slog.Logger, ready listening) error {
	// client-go's informers log through the context's logger: send their
	// lines where ours go, without touching klog's global state.
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(log.Handler()))
	restCfg = rest.CopyConfig(restCfg)
	restCfg.UserAgent = "signet-token-server"
	// controller-runtime's default (20 requests a second) would hold
	// private_key_jwt grants, one ledger write each, to 20 a second.
	if o.kubeAPIQPS > 0 && o.kubeAPIBurst > 0 {
		restCfg.QPS, restCfg.Burst = float32(o.kubeAPIQPS), o.kubeAPIBurst
	}
	// Every private_key_jwt grant writes a ledger and comes back to every
	// replica as a watch event: protobuf costs both ends less CPU than
	// JSON, and gzip of small objects on a cluster network costs CPU for
	// nothing. Everything the token server reads and writes (Secrets,
	// ConfigMaps, Leases) is a core kind, which protobuf covers.
	restCfg.ContentType = runtime.ContentTypeProtobuf
	restCfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	restCfg.DisableCompression = true
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("creating the Kubernetes client: %w", err)
	}
	idx := index.New()
	watcher := kube.NewWatcher(client, o.namespace, idx, log)
	identity, err := os.Hostname()
	if err != nil || identity == "" {
		identity = "token-server"
	}
	replica := o.replicaName
	if replica == "" {
		replica = identity
	}
	reporter := &kube.Reporter{
		Client: client, Namespace: o.namespace, Replica: replica, Log: log,
		Interval: o.reportInterval, Timeout: o.reportTimeout,
		Ready: watcher.SecretsApplied, InGrace: inGrace(idx),
	}
	watcher.OnApplied(reporter.Applied)
	srv, err := tokenserver.New(tokenserver.Config{
		Issuer: o.issuer, DefaultAudience: o.defaultAudience,
		Index: idx, Source: watcher, Log: log,
		Ledger: &kube.Ledger{Client: client, Namespace: o.namespace, Cached: watcher.CachedLedger},
		// Federated clients: other issuers' keys over HTTPS, this
		// cluster's ServiceAccount tokens by TokenReview.
		Federation: &clientauth.Federation{
			Keys:     &jwks.Cache{Client: &http.Client{Timeout: 10 * time.Second}},
			Reviewer: &kube.Reviewer{Client: client},
		},
		PreviousSecretUsed: reporter.PreviousSecretUsed,
	})
	if err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	if err := watcher.Start(ctx); err != nil {
		return err
	}
	g.Go(func() error { return reporter.Run(ctx) })
	gc := &kube.Collector{Client: client, Namespace: o.namespace, Log: log, Interval: o.gcInterval}
	// One elected replica collects; the Lease also survives it crashing.
	identity += "_" + string(uuid.NewUUID())
	g.Go(func() error { return gc.RunElected(ctx, identity) })

	handler := srv.AllHandler()
	if o.probeListen != "" {
		handler = srv.Handler()
	}
	mainLn, err := listen(ctx, g, o, log)
	if err != nil {
		return err
	}
	serve(ctx, g, newHTTPServer(handler, log), mainLn, o.shutdownTimeout)
	var probeAddr net.Addr
	if o.probeListen != "" {
		probeLn, err := net.Listen("tcp", o.probeListen)
		if err != nil {
			_ = mainLn.Close()
			return fmt.Errorf("listening for probes: %w", err)
		}
		probeAddr = probeLn.Addr()
		serve(ctx, g, newHTTPServer(srv.ProbeHandler(), log), probeLn, o.shutdownTimeout)
	}
	log.Info("Token server listening", "address", mainLn.Addr().String(), "tls", o.tls(),
		"namespace", o.namespace, "issuer", o.issuer)
	if ready != nil {
		ready(mainLn.Addr(), probeAddr)
	}
	return g.Wait()
}

// inGrace reports whether a client's record still accepts a previous
// secret, so that the report drops uses that no longer matter.
func inGrace(idx *index.Index) func(clientID string, now time.Time) bool {
	return func(clientID string, now time.Time) bool {
		rec := idx.Record(clientID)
		if rec == nil {
			return false
		}
		for _, s := range rec.AcceptedSecrets(now) {
			if s.NotAfter != nil {
				return true
			}
		}
		return false
	}
}

// listen opens the main listener, with TLS from a certificate that is
// reloaded when its files change.
func listen(ctx context.Context, g *errgroup.Group, o options, log *slog.Logger) (net.Listener, error) {
	tcp, err := net.Listen("tcp", o.listen)
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	// Fairness is applied below TLS: http.Server must still see *tls.Conn.
	ln := tokenserver.FairListener(tcp)
	if !o.tls() {
		return ln, nil
	}
	cw, err := certwatcher.New(o.tlsCertFile, o.tlsKeyFile)
	if err != nil {
		_ = tcp.Close()
		return nil, fmt.Errorf("loading the TLS certificate: %w", err)
	}
	cw.RegisterCallback(func(tls.Certificate) { log.Info("Loaded the TLS certificate") })
	g.Go(func() error { return cw.Start(ctx) })
	return tls.NewListener(ln, &tls.Config{
		GetCertificate: cw.GetCertificate,
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
	}), nil
}

func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// serve runs s on ln until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, g *errgroup.Group, s *http.Server, ln net.Listener, timeout time.Duration) {
	g.Go(func() error {
		if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return s.Shutdown(sctx)
	})
}
