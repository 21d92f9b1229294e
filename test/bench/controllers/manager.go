package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"

	"github.com/signet-iam/signet/internal/testenv"
)

// managerProcess is the real manager binary running against the benchmark's
// API server, with its probes, metrics and profiles on loopback ports.
type managerProcess struct {
	cmd                         *exec.Cmd
	probeURL, metricsURL, pprof string
}

func startManager(env *testenv.Environment, bin string) (*managerProcess, error) {
	dir, err := os.MkdirTemp("", "signet-bench-")
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		return nil, err
	}
	var ports [3]int
	for i := range ports {
		if ports[i], err = testenv.FreePort(); err != nil {
			return nil, err
		}
	}
	m := &managerProcess{
		probeURL:   fmt.Sprintf("http://127.0.0.1:%d/readyz", ports[0]),
		metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", ports[1]),
		pprof:      fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/", ports[2]),
	}
	m.cmd = exec.Command(bin,
		"--signet-namespace=signet-system",
		fmt.Sprintf("--health-probe-bind-address=127.0.0.1:%d", ports[0]),
		fmt.Sprintf("--metrics-bind-address=127.0.0.1:%d", ports[1]),
		fmt.Sprintf("--pprof-bind-address=127.0.0.1:%d", ports[2]),
		"--kube-api-qps=500", "--kube-api-burst=1000",
	)
	m.cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	logFile, err := os.Create(filepath.Join(dir, "manager.log"))
	if err != nil {
		return nil, err
	}
	m.cmd.Stdout, m.cmd.Stderr = logFile, logFile
	fmt.Printf("Starting %s (log: %s)\n", bin, logFile.Name())
	return m, m.cmd.Start()
}

// waitServing waits until the manager answers its readiness probe.
func (m *managerProcess) waitServing(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if body, err := get(ctx, m.probeURL); err == nil && string(body) == "ok" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the manager was not ready after %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// counters reads, from the manager's metrics, its API requests by verb
// (client-go's rest_client_requests_total) and its reconciles by controller.
func (m *managerProcess) counters(ctx context.Context) (requests, reconciles map[string]float64, err error) {
	body, err := get(ctx, m.metricsURL)
	if err != nil {
		return nil, nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		return nil, nil, fmt.Errorf("parsing the manager's metrics: %w", err)
	}
	sum := func(family, label string) map[string]float64 {
		out := map[string]float64{}
		for _, metric := range families[family].GetMetric() {
			for _, l := range metric.GetLabel() {
				if l.GetName() == label {
					out[l.GetValue()] += metric.GetCounter().GetValue()
				}
			}
		}
		return out
	}
	return sum("rest_client_requests_total", "method"), sum("controller_runtime_reconcile_total", "controller"), nil
}

// saveProfile writes one profile from the manager's pprof endpoint.
func (m *managerProcess) saveProfile(ctx context.Context, profile, path string) error {
	data, err := get(ctx, m.pprof+profile)
	if err != nil {
		return fmt.Errorf("profile %s: %w", profile, err)
	}
	return os.WriteFile(path, data, 0o644)
}

// cpuProfiler takes back-to-back CPU profiles until stopped; "go tool pprof"
// merges the windows when given them all.
type cpuProfiler struct {
	done chan struct{}
	wg   sync.WaitGroup
	err  error
}

const cpuWindow = 10 * time.Second

func (m *managerProcess) profileCPU(dir string) *cpuProfiler {
	p := &cpuProfiler{done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for i := 0; ; i++ {
			select {
			case <-p.done:
				return
			default:
			}
			path := filepath.Join(dir, fmt.Sprintf("cpu-%03d.pprof", i))
			profile := fmt.Sprintf("profile?seconds=%d", int(cpuWindow.Seconds()))
			if err := m.saveProfile(context.Background(), profile, path); err != nil {
				p.err = err
				return
			}
		}
	}()
	return p
}

// stop ends profiling after the window in progress.
func (p *cpuProfiler) stop() error {
	close(p.done)
	p.wg.Wait()
	return p.err
}

// profileAPIServer takes a CPU profile of kube-apiserver over the first
// apiServerWindow of the run, where the manager's writes go; the function it
// returns waits for it.
func profileAPIServer(ctx context.Context, env *testenv.Environment, path string) func() error {
	done := make(chan error, 1)
	go func() {
		cs, err := kubernetes.NewForConfig(env.Config)
		if err == nil {
			var data []byte
			data, err = cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
				Param("seconds", strconv.Itoa(int(apiServerWindow.Seconds()))).Timeout(2 * apiServerWindow).DoRaw(ctx)
			if err == nil {
				err = os.WriteFile(path, data, 0o644)
			}
		}
		done <- err
	}()
	return func() error { return <-done }
}

const apiServerWindow = 60 * time.Second

func get(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*cpuWindow)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return body, err
}
