package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
)

// restConfig returns how the token server reaches the API server. Without
// --kube-token-file it is controller-runtime's: --kubeconfig, KUBECONFIG, or
// the Pod's automounted ServiceAccount token. With it, the token server
// authenticates with the token in that file, as in the chart's sidecar
// layout, where the Pod mounts no ServiceAccount token and the manager writes
// a token of the token server's own account there (TokenRequest API).
func restConfig(ctx context.Context, o options) (*rest.Config, error) {
	if o.kubeTokenFile == "" {
		return config.GetConfig()
	}
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("--kube-token-file needs the KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT a Pod is given")
	}
	if err := waitForFile(ctx, o.kubeTokenFile, time.Second); err != nil {
		return nil, err
	}
	return tokenFileConfig("https://"+net.JoinHostPort(host, port), o.kubeTokenFile, o.kubeCAFile), nil
}

// tokenFileConfig authenticates to host with the bearer token in tokenFile.
// client-go re-reads the file (about once a minute), so the writer's
// refreshes reach the token server without a restart.
func tokenFileConfig(host, tokenFile, caFile string) *rest.Config {
	return &rest.Config{
		Host:            host,
		BearerTokenFile: tokenFile,
		TLSClientConfig: rest.TLSClientConfig{CAFile: caFile},
	}
}

// waitForFile waits until path exists and is not empty: the manager writes
// the token as it starts, and the two containers start together.
func waitForFile(ctx context.Context, path string, every time.Duration) error {
	for {
		if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the token file %s: %w", path, ctx.Err())
		case <-time.After(every):
		}
	}
}
