package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/signet-iam/signet/internal/tokenserver"
)

type loadConfig struct {
	duration, warmup time.Duration
	clients          int
	concurrency      string
	serverCPU        string
	clientCPU        string
	logFile          string
	cpuProfile       string
	alg              string
	client           string
	endpoint         string
}

func (c *loadConfig) bindFlags(fs *flag.FlagSet) {
	fs.DurationVar(&c.duration, "duration", 5*time.Second, "Measured time per concurrency level.")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "Unmeasured time before each level.")
	fs.IntVar(&c.clients, "clients", 100, "Distinct clients the load is spread over.")
	fs.StringVar(&c.concurrency, "concurrency", "1,16,64", "Comma-separated numbers of concurrent clients.")
	fs.StringVar(&c.serverCPU, "server-cpu", "0", "CPU the server is pinned to (taskset -c); empty: unpinned.")
	fs.StringVar(&c.clientCPU, "client-cpu", "1", "CPU the load generator is pinned to; empty: unpinned.")
	fs.StringVar(&c.alg, "alg", "ES256", "Signing algorithm of the server's key: ES256, EdDSA or RS256.")
	fs.StringVar(&c.cpuProfile, "server-cpuprofile", "", "Write a CPU profile of the server to this file.")
	fs.StringVar(&c.client, "client", "net/http", "Load generator: net/http (Go's HTTP client) or raw (one keep-alive connection per worker writing pre-built requests, as wrk does, to show how much of the latency is the generator's own).")
	fs.StringVar(&c.endpoint, "endpoint", "token", "What to drive: token (client_credentials) or introspect (RFC 7662, each client introspecting its own ES256 token).")
	fs.StringVar(&c.logFile, "server-log", "", "File for the server's log and audit lines. Default: a temporary file, as a real deployment writes them.")
}

type result struct {
	concurrency     int
	ok, failed      int
	elapsed         time.Duration
	p50, p90, p99   time.Duration
	max             time.Duration
	serverCPU       time.Duration
	serverCPUPerTok time.Duration
}

func load(cfg loadConfig) error {
	dir, err := os.MkdirTemp("", "signet-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if cfg.logFile == "" {
		cfg.logFile = filepath.Join(dir, "server.log")
	}
	statePath := filepath.Join(dir, "state.json")
	server, err := startServer(cfg, statePath)
	if err != nil {
		return err
	}
	defer func() {
		_ = server.Process.Signal(syscall.SIGTERM)
		_ = server.Wait()
	}()
	st, err := waitState(statePath, server)
	if err != nil {
		return err
	}
	switch {
	case cfg.endpoint == "introspect" && cfg.client == "raw":
		return errors.New("-client raw drives the token endpoint only")
	case cfg.endpoint == "introspect":
		if err := st.introspection(); err != nil {
			return err
		}
	case cfg.endpoint != "token":
		return fmt.Errorf("unknown -endpoint %q", cfg.endpoint)
	}
	fmt.Printf("Endpoint %s, client_secret_basic, %s, %d clients, %v per level; server pinned to CPU %q, load generator to CPU %q.\n",
		cfg.endpoint, cfg.alg, cfg.clients, cfg.duration, cfg.serverCPU, cfg.clientCPU)
	fmt.Println("\"Server core used\" is the server's CPU time over wall time: well under 100% at a saturating concurrency means other processes took its core.")
	fmt.Println()
	fmt.Println("| concurrency | tokens/s | p50 | p90 | p99 | max | server CPU per token | server core used | errors |")
	fmt.Println("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, field := range strings.Split(cfg.concurrency, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n < 1 {
			return fmt.Errorf("bad concurrency %q", field)
		}
		driver := drive
		if cfg.client == "raw" {
			driver = driveRaw
		}
		_ = driver(st, n, cfg.warmup)
		r := measure(driver, st, n, cfg.duration, server.Process.Pid)
		fmt.Printf("| %d | %.0f | %v | %v | %v | %v | %v | %.0f%% | %d |\n", r.concurrency, float64(r.ok)/r.elapsed.Seconds(),
			round(r.p50), round(r.p90), round(r.p99), round(r.max), round(r.serverCPUPerTok),
			100*r.serverCPU.Seconds()/r.elapsed.Seconds(), r.failed)
	}
	return nil
}

func startServer(cfg loadConfig, statePath string) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	args := []string{self, "serve", "-state", statePath, "-clients", strconv.Itoa(cfg.clients), "-log", cfg.logFile, "-cpuprofile", cfg.cpuProfile, "-alg", cfg.alg}
	if cfg.serverCPU != "" {
		if taskset, err := exec.LookPath("taskset"); err == nil {
			args = append([]string{taskset, "-c", cfg.serverCPU}, args...)
		}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd, cmd.Start()
}

func waitState(path string, server *exec.Cmd) (*state, error) {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if data, err := os.ReadFile(path); err == nil {
			var st state
			return &st, json.Unmarshal(data, &st)
		}
		if server.ProcessState != nil {
			return nil, errors.New("the server exited")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, errors.New("the server did not start within 2 minutes")
}

func measure(driver func(*state, int, time.Duration) []workerResult, st *state, n int, d time.Duration, pid int) result {
	cpu0 := processCPU(pid)
	start := time.Now()
	lat := driver(st, n, d)
	elapsed := time.Since(start)
	cpu := processCPU(pid) - cpu0
	r := result{concurrency: n, elapsed: elapsed, serverCPU: cpu}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l.ok...)
		r.failed += l.failed
	}
	r.ok = len(all)
	slices.Sort(all)
	if r.ok > 0 {
		r.p50, r.p90, r.p99, r.max = all[r.ok*50/100], all[r.ok*90/100], all[min(r.ok-1, r.ok*99/100)], all[r.ok-1]
		r.serverCPUPerTok = cpu / time.Duration(r.ok)
	}
	return r
}

type workerResult struct {
	ok     []time.Duration
	failed int
}

// drive runs n workers for d, each sending token requests one after
// another over its own keep-alive connection, spread over the clients.
func drive(st *state, n int, d time.Duration) []workerResult {
	transport := &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n, DisableCompression: true}
	defer transport.CloseIdleConnections()
	hc := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	body := url.Values{"grant_type": {"client_credentials"}}.Encode()
	endpoint := st.URL
	if st.Tokens != nil {
		endpoint = st.introspectURL()
	}
	out := make([]workerResult, n)
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for w := range n {
		wg.Go(func() {
			res := workerResult{ok: make([]time.Duration, 0, 1<<14)}
			for i := w; time.Now().Before(stop); i += n {
				c := st.Clients[i%len(st.Clients)]
				if st.Tokens != nil {
					body = "token=" + st.Tokens[i%len(st.Clients)]
				}
				req, _ := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(url.QueryEscape(c[0]), url.QueryEscape(c[1]))
				t0 := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					res.failed++
					continue
				}
				respBody, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || st.Tokens != nil && !bytes.Contains(respBody, []byte(`"active":true`)) {
					res.failed++
					continue
				}
				res.ok = append(res.ok, time.Since(t0))
			}
			out[w] = res
		})
	}
	wg.Wait()
	return out
}

// processCPU is the user plus system time of a process, from /proc (in
// clock ticks of 10 ms, the USER_HZ of Linux /proc).
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may
	// contain spaces.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func round(d time.Duration) time.Duration {
	if d > 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// introspectURL is the introspection endpoint next to the token endpoint.
func (st *state) introspectURL() string {
	return strings.TrimSuffix(st.URL, tokenserver.TokenPath) + tokenserver.IntrospectPath
}

// introspection takes one token per client, for the clients to introspect
// (each its own token, which it is entitled to see active).
func (st *state) introspection() error {
	st.Tokens = make([]string, len(st.Clients))
	for i, c := range st.Clients {
		req, _ := http.NewRequest(http.MethodPost, st.URL, strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(c[0]), url.QueryEscape(c[1]))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		var r struct {
			AccessToken string `json:"access_token"`
		}
		err = json.NewDecoder(resp.Body).Decode(&r)
		resp.Body.Close()
		if err != nil || r.AccessToken == "" {
			return fmt.Errorf("taking a token to introspect: %d %w", resp.StatusCode, err)
		}
		st.Tokens[i] = r.AccessToken
	}
	return nil
}
