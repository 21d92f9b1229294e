// Package chart_test tests Signet's packaging: the Helm chart charts/signet
// (helm lint, what it renders for the supported value sets, what its schema
// rejects, that it stays in step with the generated CRDs and RBAC, and that
// the local API server accepts the rendered manifests in a server-side dry
// run) and the Dockerfile, which cannot be built here.
//
// The tests run bin/helm, built by "make helm" (which "make test" runs).
package chart_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/signet-iam/signet/internal/testenv"
)

// release and namespace are what every test renders the chart as.
const (
	release   = "signet"
	namespace = "signet-system"
)

// root is the module root; chartDir the chart; helm the helm binary. All are
// set by TestMain.
var root, chartDir, helm string

func TestMain(m *testing.M) {
	var err error
	root, err = testenv.ModuleRoot()
	if err == nil {
		chartDir = filepath.Join(root, "charts", "signet")
		helm, err = helmPath(root)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// readInputs reads every file that helm, kubectl and go list read for these
// tests. go test caches a package's result until a file the test process
// itself opened changes; the subprocesses' reads do not count, so without
// this an edited template would leave a stale PASS in the cache. Reads in
// TestMain before m.Run are not logged either: runHelm calls it once.
var readInputs = sync.OnceValue(func() error {
	for _, dir := range []string{"charts", "config", "api", "cmd", "controllers", "internal"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = os.ReadFile(path)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
})

// helmPath finds helm through $HELM or in the module's bin/.
func helmPath(root string) (string, error) {
	if p := os.Getenv("HELM"); p != "" {
		return p, nil
	}
	p := filepath.Join(root, "bin", "helm")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("helm is missing from %s: run 'make helm' (or 'make test') once to build it from the Go module proxy", filepath.Dir(p))
	}
	return p, nil
}

// runHelm runs helm and returns its standard output, or an error carrying
// its standard error.
func runHelm(args ...string) ([]byte, error) {
	if err := readInputs(); err != nil {
		return nil, err
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helm, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("helm %s: %w\n%s%s", strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.Bytes(), nil
}

// valuesFile writes values as a values file and returns its path.
func valuesFile(t *testing.T, values map[string]any) string {
	t.Helper()
	data, err := yaml.Marshal(values)
	if err != nil {
		t.Fatal(err)
	}
	// Not under t.TempDir: helm splits -f on commas, which test names hold.
	f, err := os.CreateTemp("", "signet-values-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(f.Name()) })
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// template renders the chart with values; extra arguments go to helm.
func template(t *testing.T, values map[string]any, extra ...string) ([]byte, error) {
	t.Helper()
	return templateChart(t, chartDir, values, extra...)
}

// templateChart renders the chart in dir.
func templateChart(t *testing.T, dir string, values map[string]any, extra ...string) ([]byte, error) {
	t.Helper()
	args := append([]string{"template", release, dir, "--namespace", namespace, "-f", valuesFile(t, values)}, extra...)
	return runHelm(args...)
}

// manifest is what the chart rendered, one object per YAML document.
type manifest []*unstructured.Unstructured

// render renders the chart with values, failing the test if helm fails.
func render(t *testing.T, values map[string]any, extra ...string) manifest {
	t.Helper()
	return renderChart(t, chartDir, values, extra...)
}

// renderChart renders the chart in dir, failing the test if helm fails.
func renderChart(t *testing.T, dir string, values map[string]any, extra ...string) manifest {
	t.Helper()
	out, err := templateChart(t, dir, values, extra...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseManifest(out)
	if err != nil {
		t.Fatalf("parsing the rendered chart: %v", err)
	}
	return m
}

// parseManifest splits multi-document YAML into objects, skipping empty
// documents.
func parseManifest(data []byte) (manifest, error) {
	var m manifest
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return nil, err
		}
		var obj map[string]any
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			return nil, fmt.Errorf("%w in:\n%s", err, doc)
		}
		if len(obj) == 0 {
			continue
		}
		m = append(m, &unstructured.Unstructured{Object: obj})
	}
}

// all returns the objects of a kind.
func (m manifest) all(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, obj := range m {
		if obj.GetKind() == kind {
			out = append(out, obj)
		}
	}
	return out
}

// get returns the object of a kind and name, or nil.
func (m manifest) get(kind, name string) *unstructured.Unstructured {
	for _, obj := range m.all(kind) {
		if obj.GetName() == name {
			return obj
		}
	}
	return nil
}

// decode converts an object into a typed one, rejecting fields the type does
// not have, so that a misspelt field in a template fails the test instead of
// being dropped by the API server.
func decode[T any](t *testing.T, obj *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	decodeInto(t, obj, out)
	return out
}

// decodeInto is decode into an object the caller allocated.
func decodeInto(t *testing.T, obj *unstructured.Unstructured, out any) {
	t.Helper()
	data, err := json.Marshal(obj.Object)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, out); err != nil {
		t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
	}
}
