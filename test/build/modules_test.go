// Package build checks properties of how Signet is built.
package build

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"testing"
)

// pkg is what "go list -deps -json" says of one package.
type pkg struct {
	ImportPath string
	Standard   bool
	Module     *module
}

type module struct {
	Path    string
	Version string
	Replace *module
}

// source is the module version a package is compiled from, after replaces.
func (p pkg) source() string {
	m := p.Module
	if m == nil {
		return "std"
	}
	if m.Replace != nil {
		m = m.Replace
	}
	return m.Path + "@" + m.Version
}

// TestControlPlaneSharesDependencies: the first "make dev" builds the
// control plane (hack/controlplane), then the manager and the token server.
// Go's build cache serves the second build every package the first
// compiled from the same module version with the same flags, so every
// module the two builds share must be selected at one version in both
// go.mod files; otherwise the manager's Kubernetes dependencies compile a
// second time (docs/design/0025-image-and-first-run.md). To fix a failure,
// require the newer version in the go.mod that selects the older one.
func TestControlPlaneSharesDependencies(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	signet := deps(t, root, "./cmd/manager", "./cmd/token-server", "./hack/dev")
	controlPlane := deps(t, filepath.Join(root, "hack", "controlplane"),
		"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kubectl", "go.etcd.io/etcd/server/v3")

	shared, differ := 0, map[string]string{}
	for path, p := range signet {
		q, ok := controlPlane[path]
		if !ok || p.Standard {
			continue
		}
		shared++
		if p.source() != q.source() {
			differ[p.Module.Path] = p.source() + " in go.mod, " + q.source() + " in hack/controlplane/go.mod"
		}
	}
	if shared < 500 {
		t.Errorf("the builds share only %d packages; want the Kubernetes client libraries (hundreds) among them", shared)
	}
	mods := make([]string, 0, len(differ))
	for m := range differ {
		mods = append(mods, m)
	}
	sort.Strings(mods)
	for _, m := range mods {
		t.Errorf("%s: %s", m, differ[m])
	}
	t.Logf("%d packages of the manager, token server and dev runner are compiled by the control plane's build too", shared)
}

// deps lists the packages the given packages are built from, run in dir
// with the flags of "make build".
func deps(t *testing.T, dir string, pkgs ...string) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-deps", "-json"}, pkgs...)...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list in %s: %v\n%s", dir, err, stderr.String())
	}
	got := map[string]pkg{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		got[p.ImportPath] = p
	}
	return got
}
