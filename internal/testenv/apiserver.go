package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// APIServer controls the kube-apiserver of an Environment for fault tests:
// it can be frozen (SIGSTOP), thawed, killed (SIGKILL) and started again
// with the same flags, port, certificates and etcd, so that every client
// keeps its configuration across the outage.
//
// envtest keeps the process to itself; APIServer finds it as the child of
// this process named kube-apiserver.
type APIServer struct {
	env  *Environment
	path string
	args []string
	pid  int
	// restarted is the process Restart started, which Environment.Stop
	// stops; nil while envtest's own process runs.
	restarted *exec.Cmd
	done      chan struct{}
}

// APIServer returns the controller of the running kube-apiserver.
func (e *Environment) APIServer() (*APIServer, error) {
	if e.apiServer != nil {
		return e.apiServer, nil
	}
	pid, err := childNamed("kube-apiserver")
	if err != nil {
		return nil, err
	}
	cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return nil, err
	}
	argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	e.apiServer = &APIServer{env: e, path: argv[0], args: argv[1:], pid: pid}
	return e.apiServer, nil
}

// childNamed returns the process id of this process's only child whose
// command name is name.
func childNamed(name string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	self := os.Getpid()
	found := 0
	for _, entry := range entries {
		pid, err := strconv.Atoi(entry.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", entry.Name(), "stat"))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces, so split after
		// its closing parenthesis.
		open, closing := bytes.IndexByte(stat, '('), bytes.LastIndexByte(stat, ')')
		if open < 0 || closing < open {
			continue
		}
		fields := strings.Fields(string(stat[closing+1:]))
		if string(stat[open+1:closing]) != name || len(fields) < 2 || fields[1] != strconv.Itoa(self) {
			continue
		}
		if found != 0 {
			return 0, fmt.Errorf("more than one %s runs under this process", name)
		}
		found = pid
	}
	if found == 0 {
		return 0, fmt.Errorf("no %s runs under this process", name)
	}
	return found, nil
}

// PID is the process id of the running kube-apiserver.
func (a *APIServer) PID() int { return a.pid }

// Pause freezes the API server with SIGSTOP: its port stays open and
// connections hang, as with a server that stopped answering.
func (a *APIServer) Pause() error { return syscall.Kill(a.pid, syscall.SIGSTOP) }

// Resume thaws a paused API server with SIGCONT.
func (a *APIServer) Resume() error { return syscall.Kill(a.pid, syscall.SIGCONT) }

// Kill kills the API server with SIGKILL and returns once it is gone.
func (a *APIServer) Kill() error {
	if err := syscall.Kill(a.pid, syscall.SIGKILL); err != nil {
		return err
	}
	if a.restarted != nil {
		<-a.done
		a.restarted = nil
		return nil
	}
	// envtest reaps its own process; wait for that.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(a.pid))); errors.Is(err, os.ErrNotExist) {
			return nil
		}
	}
	return fmt.Errorf("kube-apiserver %d still exists 30 s after SIGKILL", a.pid)
}

// Restart starts a killed API server again with its flags, logging to
// logPath, and returns once its /readyz answers ok.
func (a *APIServer) Restart(logPath string, timeout time.Duration) error {
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(a.path, a.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(done) }()
	a.restarted, a.done, a.pid = cmd, done, cmd.Process.Pid
	return a.WaitReady(timeout)
}

// WaitReady waits until the API server's /readyz answers ok.
func (a *APIServer) WaitReady(timeout time.Duration) error {
	hc, err := rest.HTTPClientFor(a.env.Config)
	if err != nil {
		return err
	}
	hc.Timeout = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	readyz := strings.TrimSuffix(a.env.Config.Host, "/") + "/readyz"
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, readyz, nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-a.done:
			return errors.New("kube-apiserver exited while starting")
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready after %v: %s from %s", timeout, last, readyz)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop thaws the API server, if paused, and stops one Restart started
// (envtest stops its own).
func (a *APIServer) stop() {
	_ = a.Resume()
	if a.restarted == nil {
		return
	}
	_ = a.restarted.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
	case <-time.After(30 * time.Second):
		_ = a.restarted.Process.Kill()
		<-a.done
	}
	a.restarted = nil
}
