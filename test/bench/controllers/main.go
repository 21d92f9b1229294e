// Command controllers measures Signet's control plane: how long 1,000
// ClientCredentials (across 100 ServiceAccounts and 100 AccessRules) take
// from apply to Ready on the local control plane, and the manager's peak
// memory while 1,000 unrelated 100 KB Secrets exist in the cluster.
//
// It starts etcd and kube-apiserver (internal/testenv), runs the real
// manager binary as a separate process so its RSS is its own, and reports
// the results as text and JSON, with the API requests the manager made and
// the reconciles it ran (from its metrics). With -profile-dir it also takes
// the manager's CPU profile from the first apply until every credential is
// Ready, and its heap profile then. Run it with "make bench-controllers".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/testenv"
)

type result struct {
	Credentials       int     `json:"credentials"`
	Accounts          int     `json:"accounts"`
	Rules             int     `json:"rules"`
	UnrelatedSecrets  int     `json:"unrelatedSecrets"`
	UnrelatedSecretKB int     `json:"unrelatedSecretKB"`
	ApplySeconds      float64 `json:"applySeconds"`
	ReadySeconds      float64 `json:"readySeconds"`
	PeakRSSMB         float64 `json:"managerPeakRSSMB"`
	FinalRSSMB        float64 `json:"managerRSSMBAfterReady"`
	// APIRequests counts the manager's requests to the API server by verb,
	// and Reconciles its reconciles by controller, until every credential
	// was Ready.
	APIRequests map[string]float64 `json:"managerAPIRequests,omitempty"`
	Reconciles  map[string]float64 `json:"reconciles,omitempty"`
	// CPUSeconds is the CPU each process spent from the first apply until
	// every credential was Ready, by command name.
	CPUSeconds map[string]float64 `json:"cpuSeconds,omitempty"`
}

func main() {
	var (
		creds     = flag.Int("credentials", 1000, "ClientCredentials to create")
		accounts  = flag.Int("accounts", 100, "ServiceAccounts (and AccessRules) to spread them over")
		unrelated = flag.Int("unrelated-secrets", 1000, "unrelated Secrets present before the manager starts")
		sizeKB    = flag.Int("unrelated-secret-kb", 100, "size of each unrelated Secret")
		manager   = flag.String("manager", "bin/manager", "manager binary")
		out       = flag.String("json", "", "also write the result as JSON to this file")
		timeout   = flag.Duration("timeout", 30*time.Minute, "give up when not every credential is Ready this long after the apply")
		profiles  = flag.String("profile-dir", "", "write the manager's CPU profiles (apply to Ready, in 10 s windows) and heap profile (at Ready) to this directory")
	)
	flag.Parse()
	ctrllog.SetLogger(logr.Discard())
	if err := run(*creds, *accounts, *unrelated, *sizeKB, *manager, *out, *profiles, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(creds, accounts, unrelated, sizeKB int, managerBin, out, profileDir string, timeout time.Duration) error {
	ctx := context.Background()
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	c, err := client.New(env.Config, client.Options{Scheme: testenv.Scheme()})
	if err != nil {
		return err
	}
	for _, ns := range []string{"signet-system", "bench", "unrelated"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}

	fmt.Printf("Creating %d unrelated Secrets of %d KB\n", unrelated, sizeKB)
	payload := []byte(strings.Repeat("x", sizeKB<<10))
	if err := parallel(unrelated, 8, func(i int) error {
		return c.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: "unrelated", Name: fmt.Sprintf("blob-%04d", i)},
			Data:       map[string][]byte{"blob": payload},
		})
	}); err != nil {
		return err
	}

	mgr, err := startManager(env, managerBin)
	if err != nil {
		return err
	}
	defer func() { _ = mgr.cmd.Process.Signal(os.Interrupt); _ = mgr.cmd.Wait() }()
	peak := &rssSampler{pid: mgr.cmd.Process.Pid}
	if err := mgr.waitServing(ctx, time.Minute); err != nil {
		return err
	}
	ready, err := watchReady(ctx, env)
	if err != nil {
		return err
	}
	var cpu *cpuProfiler
	apiServerProfiled := func() error { return nil }
	if profileDir != "" {
		cpu = mgr.profileCPU(profileDir)
		apiServerProfiled = profileAPIServer(ctx, env, filepath.Join(profileDir, "kube-apiserver-cpu.pprof"))
	}

	fmt.Printf("Applying %d ServiceAccounts, %d AccessRules and %d ClientCredentials\n", accounts, accounts, creds)
	start, cpuBefore := time.Now(), childCPU()
	if err := parallel(accounts, 16, func(i int) error {
		name := fmt.Sprintf("app-%03d", i)
		if err := c.Create(ctx, &iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name}}); err != nil {
			return err
		}
		return c.Create(ctx, &iamv1.AccessRule{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name},
			Spec: iamv1.AccessRuleSpec{
				Subjects: []iamv1.Subject{{Kind: "ServiceAccount", Name: name}},
				Scopes:   []string{"orders:read", "orders:write"},
			},
		})
	}); err != nil {
		return err
	}
	if err := parallel(creds, 16, func(i int) error {
		return c.Create(ctx, &iamv1.ClientCredential{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("cred-%04d", i)},
			Spec:       iamv1.ClientCredentialSpec{ServiceAccountName: fmt.Sprintf("app-%03d", i%accounts)},
		})
	}); err != nil {
		return err
	}
	applied := time.Since(start)
	fmt.Printf("Applied in %.1fs; waiting for Ready\n", applied.Seconds())

	if err := ready.wait(ctx, creds, timeout); err != nil {
		return err
	}
	cpuUsed := childCPU()
	for name, secs := range cpuUsed {
		cpuUsed[name] = secs - cpuBefore[name]
	}
	res := result{
		Credentials: creds, Accounts: accounts, Rules: accounts,
		UnrelatedSecrets: unrelated, UnrelatedSecretKB: sizeKB,
		ApplySeconds: applied.Seconds(), ReadySeconds: time.Since(start).Seconds(),
		CPUSeconds: cpuUsed,
	}
	if res.APIRequests, res.Reconciles, err = mgr.counters(ctx); err != nil {
		return err
	}
	if cpu != nil {
		if err := cpu.stop(); err != nil {
			return err
		}
		if err := mgr.saveProfile(ctx, "heap?gc=1", filepath.Join(profileDir, "heap.pprof")); err != nil {
			return err
		}
		if err := apiServerProfiled(); err != nil {
			return err
		}
		fmt.Printf("Profiles in %s (go tool pprof -top %s %s/cpu-*.pprof)\n", profileDir, managerBin, profileDir)
	}
	time.Sleep(2 * time.Second) // the status of the last credentials settles
	res.PeakRSSMB = peak.peakMB()
	res.FinalRSSMB = peak.currentMB()
	fmt.Printf("%d ClientCredentials Ready %.1fs after the first apply (apply took %.1fs)\n", creds, res.ReadySeconds, res.ApplySeconds)
	fmt.Printf("Manager peak RSS %.1f MB (%.1f MB after Ready) with %d unrelated %d KB Secrets\n", res.PeakRSSMB, res.FinalRSSMB, unrelated, sizeKB)
	fmt.Printf("Manager API requests until Ready: %v; reconciles: %v\n", res.APIRequests, res.Reconciles)
	fmt.Printf("CPU seconds from the first apply to Ready: %v\n", res.CPUSeconds)
	if out != "" {
		data, _ := json.MarshalIndent(res, "", "  ")
		return os.WriteFile(out, append(data, '\n'), 0o644)
	}
	return nil
}

func parallel(n, workers int, fn func(i int) error) error {
	var g errgroup.Group
	g.SetLimit(workers)
	for i := range n {
		g.Go(func() error { return fn(i) })
	}
	return g.Wait()
}

// rssSampler reads the manager's memory from /proc: VmHWM is the kernel's
// own peak, so short spikes between samples are not missed.
type rssSampler struct{ pid int }

func (s *rssSampler) field(name string) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, name+":") {
			kb, _ := strconv.ParseFloat(strings.Fields(line)[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func (s *rssSampler) peakMB() float64    { return s.field("VmHWM") }
func (s *rssSampler) currentMB() float64 { return s.field("VmRSS") }
