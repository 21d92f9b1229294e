// Command dev runs Signet locally for "make dev": the local control plane,
// the CRDs, the manager and the token server on http://127.0.0.1:8080, and
// the samples. It prints how to get a first token and runs until Ctrl-C or
// SIGTERM, then stops everything it started.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/devenv"
	"github.com/signet-iam/signet/internal/testenv"
)

// sample is the credential the printed commands fetch a token for.
const (
	sampleNamespace = "default"
	sampleName      = "cost-reporter"
)

func main() {
	// If make (our parent) dies, stop too, and take the children with us.
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0)
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "dev:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	root, err := testenv.ModuleRoot()
	if err != nil {
		return err
	}
	bin := filepath.Join(root, "bin")
	started := time.Now()
	laterCM := !devenv.ControllerManagerBuilt()
	if laterCM {
		fmt.Println("Starting etcd, kube-apiserver, the manager and the token server (kube-controller-manager is built once Signet runs)…")
	} else {
		fmt.Println("Starting etcd, kube-apiserver, kube-controller-manager, the manager and the token server…")
	}
	env, err := devenv.Start(ctx, devenv.Options{
		ControllerManagerLater: true,
		Dir:                    filepath.Join(bin, "dev"),
		ManagerBin:             filepath.Join(bin, "manager"),
		TokenServerBin:         filepath.Join(bin, "token-server"),
		Listen:                 "127.0.0.1:8080",
		// Loopback: plain HTTP without authentication (see docs/operations.md).
		ManagerMetrics: "127.0.0.1:8081",
	})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Println("\nStopping the token server, the manager and the control plane (kube-controller-manager, kube-apiserver, etcd)…")
		env.Stop()
		fmt.Println("Stopped.")
	}()

	kubectl := filepath.Join(bin, "k8s", "kubectl")
	apply := exec.CommandContext(ctx, kubectl, "--kubeconfig", env.Kubeconfig, "apply", "-n", sampleNamespace, "-k", filepath.Join(root, "config", "samples"))
	apply.Stdout, apply.Stderr = os.Stdout, os.Stderr
	if err := apply.Run(); err != nil {
		return fmt.Errorf("applying config/samples: %w", err)
	}
	if err := waitReady(ctx, env.Client, 60*time.Second); err != nil {
		return err
	}

	fmt.Printf(`
Signet is running (started in %.1fs).
  kubeconfig:    %[2]s
  token server:  %[3]s  (discovery: %[3]s/.well-known/openid-configuration)
  metrics:       %[4]s (manager), %[3]s/metrics (token server)
  logs:          %[5]s

In another terminal (these lines work from any directory), point kubectl at
it, list what the samples created and get a first token for the Flexera
sample (ClientCredential %[6]s/%[8]s):

  export KUBECONFIG=%[2]s PATH=%[7]s:$PATH
  kubectl get signet -A
  CLIENT_ID=$(kubectl -n %[6]s get secret %[8]s -o go-template='{{.data.client_id | base64decode}}')
  CLIENT_SECRET=$(kubectl -n %[6]s get secret %[8]s -o go-template='{{.data.client_secret | base64decode}}')
  TOKEN_URL=$(kubectl -n %[6]s get secret %[8]s -o go-template='{{.data.token_url | base64decode}}')
  curl -sS --fail-with-body -u "$CLIENT_ID:$CLIENT_SECRET" -d grant_type=client_credentials "$TOKEN_URL"

Press Ctrl-C to stop.
`, time.Since(started).Seconds(), env.Kubeconfig, env.Issuer, env.ManagerMetricsURL, filepath.Dir(env.Kubeconfig),
		sampleNamespace, filepath.Join(bin, "k8s"), sampleName)

	exited := env.Exited()
	var built <-chan error
	if laterCM {
		built = buildControllerManager(ctx, root, filepath.Join(bin, "dev", "controlplane-build.log"))
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case name := <-exited:
			return fmt.Errorf("%s exited unexpectedly; see %s", name, env.Logs()[name])
		case err := <-built:
			built = nil
			if err == nil {
				err = env.StartControllerManager()
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "dev: kube-controller-manager: %v; namespace deletion and garbage collection do not run (make controlplane builds it)\n", err)
				continue
			}
			fmt.Println("kube-controller-manager is running: namespaces and owned objects are deleted as in a cluster.")
		}
	}
}

// buildControllerManager completes the local control plane in the
// background: the first make dev builds only what a first token needs.
// The build runs in its own process group, so that Ctrl-C stops all of it.
func buildControllerManager(ctx context.Context, root, logPath string) <-chan error {
	done := make(chan error, 1)
	fmt.Printf("Building kube-controller-manager in the background (a few minutes; log: %s). Until it runs, a deleted namespace stays Terminating and owned objects are not garbage collected.\n", logPath)
	logFile, err := os.Create(logPath)
	if err != nil {
		done <- err
		return done
	}
	cmd := exec.CommandContext(ctx, filepath.Join(root, "hack", "build-controlplane.sh"), filepath.Join(root, "bin", "k8s"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	go func() {
		defer logFile.Close()
		if err := cmd.Run(); err != nil {
			done <- fmt.Errorf("building it failed (%w); see %s", err, logPath)
			return
		}
		done <- nil
	}()
	return done
}

// waitReady waits until the sample credential is Ready.
func waitReady(ctx context.Context, c client.Client, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		cc := &iamv1.ClientCredential{}
		err := c.Get(ctx, client.ObjectKey{Namespace: sampleNamespace, Name: sampleName}, cc)
		if err == nil && meta.IsStatusConditionTrue(cc.Status.Conditions, iamv1.ReadyCondition) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ClientCredential %s/%s not Ready after %v", sampleNamespace, sampleName, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}
