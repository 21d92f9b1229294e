// Command manager runs Signet's controllers: it reconciles ServiceAccounts,
// AccessRules and ClientCredentials into workload Secrets and credential
// records, and keeps the token server's signing and hash keys.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/signet-iam/signet/controllers"
	"github.com/signet-iam/signet/internal/scheme"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "manager:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		metricsAddr, probeAddr string
		leaderElect            bool
		leaderElectionNS       string
		qps                    float64
		burst                  int
		opts                   controllers.Options
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8080", "Address the Prometheus metrics endpoint binds to; \"0\" disables it.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the /healthz and /readyz probes bind to.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader through a Lease, so that only one manager replica reconciles at a time.")
	flag.StringVar(&leaderElectionNS, "leader-election-namespace", "", "Namespace of the leader election Lease. Default: the Signet namespace.")
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

	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = float32(qps), burst

	metricsOpts := metricsserver.Options{BindAddress: metricsAddr}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme.New(),
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        probeAddr,
		LeaderElection:                leaderElect,
		LeaderElectionID:              "manager.iam.signet.dev",
		LeaderElectionNamespace:       leaderElectionNS,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       ptr(30 * time.Second),
		Cache:                         controllers.CacheOptions(),
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

	log.Info("Starting manager", "signetNamespace", opts.SignetNamespace, "leaderElection", leaderElect)
	// Start returns nil after SIGTERM or SIGINT, once the controllers have
	// drained (up to the graceful shutdown timeout) and the Lease is released.
	return mgr.Start(ctx)
}

func ptr[T any](v T) *T { return &v }
