package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ControllerManagerControllers are the kube-controller-manager controllers
// the local control plane runs: what a user's cluster does on deletion and
// nothing more. "namespace" empties and removes a deleted namespace;
// "garbagecollector" follows ownerReferences (background and foreground
// cascading deletion, including Argo CD's default foreground prune).
// Everything else (Deployments, Pods, ServiceAccount tokens) is left out: no
// test needs it, and each controller watches more of the API server.
var ControllerManagerControllers = []string{"namespace", "garbagecollector"}

// ControllerManager is a running kube-controller-manager.
type ControllerManager struct {
	cmd  *exec.Cmd
	done chan struct{}
	// Log is the path of its output.
	Log string
	// Started is how long it took from exec to a healthy /healthz.
	Started time.Duration
}

// StartControllerManager runs kube-controller-manager from the assets
// directory against this API server, as the administrator of the admin
// kubeconfig, with its logs and serving certificate under dir. It returns
// once its /healthz answers; Stop stops it before the API server.
func (e *Environment) StartControllerManager(dir string) (*ControllerManager, error) {
	if e.controllerManager != nil {
		return e.controllerManager, nil
	}
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	bin := filepath.Join(assets, "kube-controller-manager")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("kube-controller-manager is missing from %s: run 'make controlplane' to rebuild the local control plane", assets)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kube-controller-manager.kubeconfig")
	if err := os.WriteFile(kubeconfig, e.KubeConfig, 0o600); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cm := &ControllerManager{Log: filepath.Join(dir, "kube-controller-manager.log"), done: make(chan struct{})}
	logFile, err := os.Create(cm.Log)
	if err != nil {
		return nil, err
	}
	cm.cmd = exec.Command(bin, controllerManagerArgs(kubeconfig, dir, port)...)
	cm.cmd.Stdout, cm.cmd.Stderr = logFile, logFile
	// If the test binary dies, take the controller manager with it.
	cm.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	start := time.Now()
	if err := cm.cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("starting kube-controller-manager: %w", err)
	}
	go func() { _ = cm.cmd.Wait(); _ = logFile.Close(); close(cm.done) }()
	if err := cm.waitHealthy(port, time.Minute); err != nil {
		cm.stop()
		return nil, err
	}
	cm.Started = time.Since(start)
	e.controllerManager = cm
	return cm, nil
}

// controllerManagerArgs are the flags of a single, unelected
// kube-controller-manager that uses the admin credentials for every
// controller (no per-controller ServiceAccounts: the local control plane
// runs no token controller) and serves /healthz on a loopback port.
func controllerManagerArgs(kubeconfig, dir string, port int) []string {
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig,
		"--authorization-kubeconfig=" + kubeconfig,
		"--controllers=" + strings.Join(ControllerManagerControllers, ","),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + dir,
		// Tests delete many objects at once; client-side throttling would
		// only slow the collector down.
		"--kube-api-qps=200", "--kube-api-burst=400",
	}
}

func (cm *ControllerManager) waitHealthy(port int, timeout time.Duration) error {
	// Its serving certificate is self-signed and local; only liveness is
	// checked here.
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // loopback health probe of a local test process
	}}
	url := "https://127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := "no answer"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("HTTP %d %s", resp.StatusCode, body)
		}
		select {
		case <-cm.done:
			return fmt.Errorf("kube-controller-manager exited; see %s", cm.Log)
		case <-ctx.Done():
			return fmt.Errorf("kube-controller-manager not healthy after %v (%s); see %s", timeout, last, cm.Log)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop stops it with SIGTERM, and SIGKILL after 10 s.
func (cm *ControllerManager) stop() {
	_ = cm.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-cm.done:
	case <-time.After(10 * time.Second):
		_ = cm.cmd.Process.Kill()
		<-cm.done
	}
}

// Exited is closed when the controller manager has exited.
func (cm *ControllerManager) Exited() <-chan struct{} { return cm.done }

// FreePort returns a loopback TCP port that was free a moment ago, for a
// child process to bind.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
