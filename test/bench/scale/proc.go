package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
)

const issuer = "http://127.0.0.1"

// namespace creates ns with the signing and hash key Secrets the manager
// would have written.
func (b *bench) namespace(ns string) (*fixture.Fixture, error) {
	if _, err := b.cs.CoreV1().Namespaces().Create(b.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return nil, err
	}
	fx, err := fixture.New(ns, signing.ES256, time.Now())
	if err != nil {
		return nil, err
	}
	for _, get := range []func() (*corev1.Secret, error){fx.SigningKeysSecret, fx.HashKeySecret} {
		s, err := get()
		if err != nil {
			return nil, err
		}
		if _, err := b.cs.CoreV1().Secrets(ns).Create(b.ctx, s, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	return fx, nil
}

// tokenServer is a running bin/token-server.
type tokenServer struct {
	cmd              *exec.Cmd
	url, probeURL    string
	started, readyAt time.Time
	log              string
}

// startTokenServer runs the binary on ns with kernel-chosen loopback ports.
func (b *bench) startTokenServer(ns string) (*tokenServer, error) {
	dir, err := os.MkdirTemp("", "signet-bench-scale-")
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, b.env.KubeConfig, 0o600); err != nil {
		return nil, err
	}
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	ts := &tokenServer{
		url:      "http://127.0.0.1:" + ports[0],
		probeURL: "http://127.0.0.1:" + ports[1],
		log:      filepath.Join(dir, "token-server.log"),
	}
	logFile, err := os.Create(ts.log)
	if err != nil {
		return nil, err
	}
	ts.cmd = exec.Command(b.cfg.tokenSrv, "--namespace="+ns, "--issuer="+issuer,
		"--listen=127.0.0.1:"+ports[0], "--probe-listen=127.0.0.1:"+ports[1], "--kubeconfig="+kubeconfig)
	ts.cmd.Stdout, ts.cmd.Stderr = logFile, logFile
	fmt.Printf("Starting %s on %s (log: %s)\n", b.cfg.tokenSrv, ns, ts.log)
	ts.started = time.Now()
	return ts, ts.cmd.Start()
}

// waitReady polls /readyz until it answers 200.
func (ts *tokenServer) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(ts.probeURL + "/readyz"); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ts.readyAt = time.Now()
				return nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("the token server was not ready after %v (log: %s)", timeout, ts.log)
}

func (ts *tokenServer) stop() {
	_ = ts.cmd.Process.Signal(os.Interrupt)
	_ = ts.cmd.Wait()
}

func freePorts(n int) ([]string, error) {
	var ports []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer ln.Close()
		ports = append(ports, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	return ports, nil
}

// memMB reads a field (VmRSS, VmHWM) of /proc/<pid>/status, in MB.
func memMB(pid int, field string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if strings.HasPrefix(line, field+":") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// cpuTime is the user plus system CPU time a process has used.
func cpuTime(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

// processes finds the control plane's processes (children of this one)
// and names them by their command, with the token server and this process.
func (b *bench) processes(ts *tokenServer) map[string]int {
	procs := map[string]int{"token-server": ts.cmd.Process.Pid, "load generator": os.Getpid()}
	entries, _ := os.ReadDir("/proc")
	self := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(data)
		open, closeIdx := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closeIdx < 0 {
			continue
		}
		f := strings.Fields(s[closeIdx+2:])
		if len(f) > 1 && f[1] == self {
			if comm := s[open+1 : closeIdx]; comm == "etcd" || comm == "kube-apiserver" {
				procs[comm], _ = strconv.Atoi(e.Name())
			}
		}
	}
	return procs
}

// cpuMeter measures the CPU each process uses over an interval.
type cpuMeter struct {
	procs map[string]int
	start map[string]time.Duration
	at    time.Time
}

func newCPUMeter(procs map[string]int) *cpuMeter {
	m := &cpuMeter{procs: procs, start: map[string]time.Duration{}, at: time.Now()}
	for name, pid := range procs {
		m.start[name] = cpuTime(pid)
	}
	return m
}

// done returns each process's CPU time since newCPUMeter, in core-seconds
// per second of wall time, and prints it.
func (m *cpuMeter) done(per int, unit string) map[string]float64 {
	wall := time.Since(m.at).Seconds()
	out := map[string]float64{}
	names := make([]string, 0, len(m.procs))
	for name := range m.procs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		used := cpuTime(m.procs[name]) - m.start[name]
		out[name] = used.Seconds() / wall
		fmt.Printf("  CPU %-15s %5.2f cores, %7.1f µs per %s\n", name, used.Seconds()/wall, float64(used.Microseconds())/float64(max(per, 1)), unit)
	}
	return out
}

// etcdMetrics reads etcd's database size and key count from its /metrics.
func (b *bench) etcdMetrics() (dbBytes, inUseBytes, keys float64) {
	u := *b.env.ControlPlane.Etcd.URL
	u.Path = "/metrics"
	resp, err := http.Get(u.String())
	if err != nil {
		return 0, 0, 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		switch name {
		case "etcd_mvcc_db_total_size_in_bytes":
			dbBytes = v
		case "etcd_mvcc_db_total_size_in_use_in_bytes":
			inUseBytes = v
		case "etcd_debugging_mvcc_keys_total":
			keys = v
		}
	}
	return dbBytes, inUseBytes, keys
}

// writeClients makes len(clients) clients with newClient, from workers
// writers, and writes each one's credential record into ns through the API
// server, as the manager would.
func (b *bench) writeClients(fx *fixture.Fixture, ns string, clients []*fixture.Client, workers int, newClient func(i int) (*fixture.Client, error)) error {
	return parallel(b.ctx, len(clients), workers, func(i int) error {
		c, err := newClient(i)
		if err != nil {
			return err
		}
		s, err := fx.RecordSecret(c)
		if err != nil {
			return err
		}
		clients[i] = c
		_, err = b.cs.CoreV1().Secrets(ns).Create(b.ctx, s, metav1.CreateOptions{})
		return err
	})
}

// parallel runs fn(0..n-1) on workers goroutines and returns the first
// error.
func parallel(ctx context.Context, n, workers int, fn func(i int) error) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     = make(chan int)
	)
	for range workers {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return firstErr
}

// percentiles returns p50, p99 and max of ds, sorting it.
func percentiles(ds []time.Duration) (p50, p99, maxD time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration { return ds[min(len(ds)-1, int(q*float64(len(ds))))] }
	return at(0.50), at(0.99), ds[len(ds)-1]
}
