// Command token-server is Signet's OAuth2 token server. It watches the
// credential records, signing keys and hash key in its own namespace and
// serves the token, introspection and revocation endpoints, discovery and
// the JWKS from an in-memory index, so it keeps serving while the API
// server is down.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/klog/v2"
)

func main() {
	opts := options{}
	opts.bindFlags(flag.CommandLine)
	// The --kubeconfig flag is registered by controller-runtime's config
	// package, which also handles KUBECONFIG and in-cluster configuration.
	flag.Parse()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: opts.logLevel()}))
	klog.SetSlogLogger(log)

	if err := opts.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "token-server:", err)
		os.Exit(2)
	}
	if err := runUntilSignal(opts, log); err != nil {
		log.Error("Token server stopped", "error", err.Error())
		os.Exit(1)
	}
}

// runUntilSignal runs the server until SIGTERM or SIGINT.
func runUntilSignal(opts options, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	cfg, err := restConfig(ctx, opts)
	if err == nil {
		err = run(ctx, opts, cfg, log, nil)
	}
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
