// Command scale measures the token server at the size of a large platform,
// through the real API server (etcd and kube-apiserver from bin/k8s) and the
// real bin/token-server binary, each in its own process:
//
//   - records: N credential records (default 100,000) are written through
//     the API server; the token server is started cold and timed to Ready;
//     its RSS is read; then records change at a steady rate (default 100 a
//     second) and each change is timed until the token endpoint honours it.
//   - pkjwt: clients (default 1,000) using private_key_jwt take tokens as
//     fast as 64 concurrent callers can (tokens/s), then revoke them; the
//     ConfigMap count and the etcd database size are read before and
//     after, and the CPU time each process spent is reported.
//
// Run it with "make bench-scale" and "make bench-state"; flags set the
// sizes (the defaults of the make targets are reduced; FULL=1 runs the
// sizes of docs/benchmarks.md).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/signet-iam/signet/internal/testenv"
)

type config struct {
	stages     string
	tokenSrv   string
	jsonOut    string
	records    int
	churnRate  int
	churnFor   time.Duration
	clients    int
	grants     int
	revokes    int
	concurrent int
	profileAPI string
}

func main() {
	var c config
	flag.StringVar(&c.stages, "run", "records,pkjwt", "Stages to run: records, pkjwt, or both.")
	flag.StringVar(&c.tokenSrv, "token-server", "bin/token-server", "The token-server binary.")
	flag.StringVar(&c.jsonOut, "json", "", "Also write the results as JSON to this file.")
	flag.IntVar(&c.records, "records", 100000, "records: credential records to load.")
	flag.IntVar(&c.churnRate, "churn-rate", 100, "records: record changes a second.")
	flag.DurationVar(&c.churnFor, "churn-duration", 30*time.Second, "records: how long the churn lasts.")
	flag.IntVar(&c.clients, "clients", 1000, "pkjwt: private_key_jwt clients.")
	flag.IntVar(&c.grants, "grants", 100000, "pkjwt: tokens to take.")
	flag.IntVar(&c.revokes, "revocations", 100000, "pkjwt: tokens to revoke (at most -grants).")
	flag.IntVar(&c.concurrent, "concurrency", 64, "pkjwt: concurrent callers.")
	flag.StringVar(&c.profileAPI, "apiserver-cpuprofile", "", "pkjwt: write a CPU profile of kube-apiserver during the grants here.")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(c config) error {
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	b := &bench{cfg: c, env: env, cs: cs, ctx: context.Background(), results: map[string]any{}}
	for stage := range strings.SplitSeq(c.stages, ",") {
		switch strings.TrimSpace(stage) {
		case "records":
			err = b.records()
		case "pkjwt":
			err = b.pkjwt()
		default:
			err = fmt.Errorf("unknown stage %q", stage)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", stage, err)
		}
	}
	if c.jsonOut != "" {
		data, _ := json.MarshalIndent(b.results, "", "  ")
		return os.WriteFile(c.jsonOut, append(data, '\n'), 0o644)
	}
	return nil
}

type bench struct {
	cfg     config
	env     *testenv.Environment
	cs      kubernetes.Interface
	ctx     context.Context
	results map[string]any
}

func (b *bench) report(key string, value any, format string, args ...any) {
	b.results[key] = value
	fmt.Printf(format+"\n", args...)
}
