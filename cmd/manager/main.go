// Command manager runs Signet's controllers: it reconciles ServiceAccounts,
// AccessRules and ClientCredentials into workload Secrets and credential
// records, and keeps the token server's signing and hash keys.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/signet-iam/signet/controllers"
	"github.com/signet-iam/signet/internal/admission"
	"github.com/signet-iam/signet/internal/satoken"
	"github.com/signet-iam/signet/internal/scheme"
)

// The metrics endpoint authenticates and authorises its callers through the
// API server (controller-runtime's metrics filters):
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr, probeAddr string
		pprofAddr              string
		leaderElect            bool
		leaderElectionNS       string
		leaseDuration          time.Duration
		renewDeadline          time.Duration
		retryPeriod            time.Duration
		qps                    float64
		burst                  int
		opts                   controllers.Options
		tokenServerAccount     string
		tokenServerTokenFile   string
		webhookAddr            string
		webhookService         string
		webhookOpts            admission.Options
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; \"0\" disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0", "Loopback address (e.g. 127.0.0.1:6060) serving Go's /debug/pprof/ CPU and heap profiles; \"0\" disables it. Off loopback it is refused: profiles are unauthenticated.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader through a Lease, so that only one manager replica reconciles at a time.")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election Lease. Default: the Signet namespace.")
	// A standby takes over a killed leader's Lease once lease-duration has
	// passed since it saw the last renewal, at its next retry: at most
	// about lease-duration plus two retry periods after the kill, 12 s with
	// these defaults (the target is 15 s; controller-runtime's 15 s / 10 s /
	// 2 s measured 14.3 to 19.3 s in the fault campaign). Renewing every
	// second costs one Lease write a second.
	flag.DurationVar(&leaseDuration, "leader-election-lease-duration", 10*time.Second, "How long a standby waits after the leader's last renewal before it takes the Lease.")
	flag.DurationVar(&renewDeadline, "leader-election-renew-deadline", 7*time.Second, "How long the leader keeps retrying a renewal before it gives up leading; shorter than the lease duration.")
	flag.DurationVar(&retryPeriod, "leader-election-retry-period", time.Second, "How often a replica tries to acquire or renew the Lease.")
	flag.StringVar(&tokenServerAccount, "token-server-service-account", "", "ServiceAccount of the token server sidecar, in the Signet namespace. With --token-server-token-file, the manager writes a short-lived token of this account (TokenRequest API) to that file and refreshes it, so the sidecar authenticates as itself and never holds the manager's credentials.")
	flag.StringVar(&tokenServerTokenFile, "token-server-token-file", "", "File the token server sidecar's token is written to (a volume only the two containers share).")
	flag.StringVar(&webhookAddr, "webhook-bind-address", "", "Address (host:port, e.g. :9443) the validating admission webhook is served on over HTTPS; empty serves no webhook. It refuses a Federated ClientCredential whose spec.federation.claims does not compile.")
	flag.StringVar(&webhookOpts.CertDir, "webhook-cert-dir", "/var/run/secrets/signet/webhook", "Directory where the webhook certificate Secret is mounted (tls.crt, tls.key).")
	flag.StringVar(&webhookOpts.SecretName, "webhook-cert-secret", "signet-webhook-cert", "Secret in the Signet namespace that holds the webhook's CA and serving certificate; it must exist, and the manager fills and renews it.")
	flag.StringVar(&webhookOpts.ConfigurationName, "webhook-configuration", "signet-validating-webhook", "ValidatingWebhookConfiguration whose caBundle the manager keeps equal to its CA.")
	flag.StringVar(&webhookService, "webhook-service", "signet-webhook", "Service in the Signet namespace through which the API server calls the webhook; the serving certificate is for <service>.<namespace>.svc.")
	flag.Float64Var(&qps, "kube-api-qps", 100, "Queries per second to the API server.")
	flag.IntVar(&burst, "kube-api-burst", 200, "Burst of queries to the API server.")
	opts.BindFlags(flag.CommandLine)
	zapOpts := zap.Options{Development: false, TimeEncoder: zapcore.RFC3339NanoTimeEncoder}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	log := ctrl.Log.WithName("setup")

	if err := opts.Validate(); err != nil {
		return err
	}
	if leaderElectionNS == "" {
		leaderElectionNS = opts.SignetNamespace
	}
	if err := checkPprofAddress(pprofAddr); err != nil {
		return err
	}
	var webhookServer webhook.Server
	if webhookAddr != "" {
		host, port, err := splitHostPort(webhookAddr)
		if err != nil {
			return fmt.Errorf("--webhook-bind-address: %w", err)
		}
		webhookServer = webhook.NewServer(webhook.Options{Host: host, Port: port, CertDir: webhookOpts.CertDir})
		webhookOpts.Namespace = opts.SignetNamespace
		webhookOpts.DNSName = webhookService + "." + opts.SignetNamespace + ".svc"
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme.New(),
		Metrics:                       metricsOptions(metricsAddr),
		HealthProbeBindAddress:        probeAddr,
		PprofBindAddress:              pprofAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "manager.iam.signet.dev",
		LeaderElectionNamespace:       leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		LeaseDuration:                 &leaseDuration,
		RenewDeadline:                 &renewDeadline,
		RetryPeriod:                   &retryPeriod,
		GracefulShutdownTimeout:       ptr(30 * time.Second),
		Cache:                         controllers.CacheOptions(opts.SignetNamespace),
		WebhookServer:                 webhookServer,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return err
	}
	ctx := ctrl.SetupSignalHandler()
	if err := controllers.Setup(ctx, mgr, opts); err != nil {
		return fmt.Errorf("setting up controllers: %w", err)
	}

	if webhookServer != nil {
		if err := admission.Setup(mgr, webhookOpts); err != nil {
			return fmt.Errorf("setting up the admission webhook: %w", err)
		}
	}

	if (tokenServerAccount == "") != (tokenServerTokenFile == "") {
		return errors.New("--token-server-service-account and --token-server-token-file go together")
	}
	if tokenServerAccount != "" {
		cs, err := kubernetes.NewForConfig(mgr.GetConfig())
		if err != nil {
			return err
		}
		if err := mgr.Add(&satoken.Writer{
			Client: cs.CoreV1(), Namespace: opts.SignetNamespace, ServiceAccount: tokenServerAccount,
			Path: tokenServerTokenFile, Lifetime: time.Hour, Log: ctrl.Log.WithName("token-server-token"),
		}); err != nil {
			return err
		}
	}

	log.Info("Starting manager", "signetNamespace", opts.SignetNamespace, "leaderElection", leaderElect, "webhook", webhookAddr != "")
	// Start returns nil after SIGTERM or SIGINT, once the controllers have
	// drained (up to the graceful shutdown timeout) and the Lease is released.
	return mgr.Start(ctx)
}

func ptr[T any](v T) *T { return &v }

// metricsOptions serves metrics on addr. Off loopback they are served over
// HTTPS (a self-signed certificate unless one is configured) to callers the
// API server authenticates (TokenReview) and authorises (SubjectAccessReview
// for "get" on the non-resource URL /metrics).
func metricsOptions(addr string) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: addr}
	if addr != "0" && !isLoopback(addr) {
		opts.SecureServing = true
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return opts
}

// splitHostPort parses the webhook's bind address; an empty host binds
// every interface.
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%q has no port between 1 and 65535", addr)
	}
	return host, port, nil
}

// checkPprofAddress accepts "0" or "" (off) or a loopback address: profiles are
// served without authentication, and a heap profile holds what the manager
// holds in memory.
func checkPprofAddress(addr string) error {
	if addr == "0" || addr == "" || isLoopback(addr) {
		return nil
	}
	return fmt.Errorf("--pprof-bind-address %q must be a loopback address such as 127.0.0.1:6060 (profiles are served without authentication), or \"0\" to turn it off", addr)
}

// isLoopback reports whether addr binds only loopback interfaces. An empty
// host binds every interface, so it is not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
