// Package testenv starts the real control plane (etcd and kube-apiserver,
// built by "make controlplane" into bin/k8s) for Signet's integration tests,
// with the Signet CRDs installed, and on request kube-controller-manager
// (namespace deletion and garbage collection).
//
// It finds the binaries through KUBEBUILDER_ASSETS or, failing that, under
// the module root, so "go test ./..." from an editor works after one
// "make test" or "make controlplane".
package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/signet-iam/signet/internal/scheme"
)

// ModuleRoot returns the directory holding Signet's go.mod, searching up
// from the working directory (go test runs each package in its own folder).
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && isSignetModule(data) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the Signet module root above the working directory")
		}
		dir = parent
	}
}

func isSignetModule(gomod []byte) bool {
	const want = "module github.com/signet-iam/signet\n"
	return len(gomod) >= len(want) && string(gomod[:len(want)]) == want
}

// AssetsDir returns the directory with etcd, kube-apiserver and kubectl.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(root, "bin", "k8s")
	for _, bin := range []string{"etcd", "kube-apiserver", "kubectl"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("%s is missing from %s: run 'make controlplane' (or 'make test') once to build the local control plane", bin, dir)
		}
	}
	return dir, nil
}

// Scheme returns a scheme with the core Kubernetes kinds and Signet's.
func Scheme() *runtime.Scheme { return scheme.New() }

// Environment is a started control plane.
type Environment struct {
	*envtest.Environment
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Root is the module root.
	Root string

	// controllerManager is set once StartControllerManager has run.
	controllerManager *ControllerManager
	// apiServer is set once APIServer has run.
	apiServer *APIServer
}

// Stop stops kube-controller-manager, if it runs, then the API server and
// etcd.
func (e *Environment) Stop() error {
	if e.controllerManager != nil {
		e.controllerManager.stop()
		e.controllerManager = nil
	}
	if e.apiServer != nil {
		e.apiServer.stop()
		e.apiServer = nil
	}
	return e.Environment.Stop()
}

// Start starts etcd and kube-apiserver and installs the CRDs from
// config/crd/bases. The caller must Stop it.
func Start() (*Environment, error) {
	root, err := ModuleRoot()
	if err != nil {
		return nil, err
	}
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:        []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing:    true,
		BinaryAssetsDirectory:    assets,
		ControlPlaneStartTimeout: 2 * time.Minute,
		ControlPlaneStopTimeout:  time.Minute,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting the local control plane: %w", err)
	}
	// Tests create many objects quickly; client-side throttling would only
	// measure itself.
	cfg.QPS, cfg.Burst = 500, 1000
	return &Environment{Environment: env, Config: cfg, Root: root}, nil
}

// Run is the body of a TestMain: it starts the control plane, lets setup
// keep what the tests need (a client, typically), runs the tests and stops
// the control plane. It returns the exit code for os.Exit.
//
// With SIGNET_TESTENV=off it starts nothing and runs the tests as they are:
// for runs selected (-run) to tests that need no API server, such as the
// model test of the credential planner.
func Run(m *testing.M, setup func(*Environment) error) int {
	if os.Getenv("SIGNET_TESTENV") == "off" {
		return m.Run()
	}
	env, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := 1
	if err := setup(env); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the control plane:", err)
	}
	return code
}
