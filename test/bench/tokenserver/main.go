// Command tokenserver benchmarks Signet's token server over loopback: it
// starts the server in a child process pinned to one core, pins itself (the
// load generator) to another, drives client_credentials with
// client_secret_basic (ES256 tokens) at several concurrencies, and reports
// tokens/s, p50 and p99 latency, and the server's CPU time per token.
//
// The server is the real tokenserver handler stack with the real informer
// feeding its index, over a fake API server holding the credential records
// (so etcd and kube-apiserver do not compete for the two cores).
//
// Usage: tokenserver [-duration 5s] [-clients 100] [-concurrency 1,16,64]
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		if err := serve(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "serve:", err)
			os.Exit(1)
		}
		return
	}
	var cfg loadConfig
	fs := flag.NewFlagSet("tokenserver", flag.ExitOnError)
	cfg.bindFlags(fs)
	_ = fs.Parse(os.Args[1:])
	if err := pinSelf(cfg.clientCPU); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := load(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// pinSelf re-executes this program under taskset on cpu, once, so that
// every thread of the load generator stays off the server's core.
func pinSelf(cpu string) error {
	if cpu == "" || os.Getenv("SIGNET_BENCH_PINNED") != "" {
		return nil
	}
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		fmt.Fprintln(os.Stderr, "taskset not found: running unpinned")
		return nil
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	env := append(os.Environ(), "SIGNET_BENCH_PINNED=1")
	return syscall.Exec(taskset, append([]string{taskset, "-c", cpu, self}, os.Args[1:]...), env)
}
