package chart_test

import (
	"bytes"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

const syncHint = "run 'make manifests' (hack/sync-chart.sh) and commit the chart"

// TestChartCRDsMatchConfig checks the chart ships exactly the CRDs that
// controller-gen generated into config/crd/bases.
func TestChartCRDsMatchConfig(t *testing.T) {
	want := readDir(t, filepath.Join(root, "config", "crd", "bases"))
	got := readDir(t, filepath.Join(chartDir, "crds"))
	if len(want) == 0 {
		t.Fatal("config/crd/bases holds no CRDs")
	}
	for name, data := range want {
		if !bytes.Equal(got[name], data) {
			t.Errorf("charts/signet/crds/%s differs from config/crd/bases: %s", name, syncHint)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("charts/signet/crds/%s is not in config/crd/bases: %s", name, syncHint)
		}
	}
}

// TestChartRulesMatchMarkers checks the chart's copy of the manager's rules
// equals what controller-gen generated from the markers.
func TestChartRulesMatchMarkers(t *testing.T) {
	cluster, namespaced := generatedManagerRules(t)
	checkRulesFile(t, filepath.Join(chartDir, "files", "manager-rules.yaml"), cluster)
	checkRulesFile(t, filepath.Join(chartDir, "files", "manager-namespace-rules.yaml"), namespaced)
}

// TestSyncScript runs hack/sync-chart.sh on a copy of the tree holding
// controller-gen output with both cluster-wide and namespaced rules, renders
// the chart it synced, then syncs again with no role.yaml at all (no markers
// yet).
func TestSyncScript(t *testing.T) {
	tree := t.TempDir()
	chart := filepath.Join(tree, "charts", "signet")
	if err := os.CopyFS(chart, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(tree, "hack", "sync-chart.sh")
	writeFile(t, script, readFile(t, filepath.Join(root, "hack", "sync-chart.sh")), 0o755)
	writeFile(t, filepath.Join(tree, "config", "crd", "bases", "iam.signet.dev_widgets.yaml"), []byte("kind: CustomResourceDefinition\n"), 0o644)
	writeFile(t, filepath.Join(chart, "crds", "iam.signet.dev_removed.yaml"), []byte("stale\n"), 0o644)
	for _, f := range []string{"policy/accessrule_scopes.yaml", "policy/accessrule_grant.yaml", "policy/clientcredential_federation.yaml", "rbac/tenant_roles.yaml"} {
		writeFile(t, filepath.Join(tree, "config", f), readFile(t, filepath.Join(root, "config", f)), 0o644)
	}
	fixture := readFile(t, filepath.Join("testdata", "role.yaml"))
	writeFile(t, filepath.Join(tree, "config", "rbac", "role.yaml"), fixture, 0o644)
	sync := func() {
		t.Helper()
		if out, err := exec.Command(script).CombinedOutput(); err != nil {
			t.Fatalf("hack/sync-chart.sh: %v\n%s", err, out)
		}
	}
	files := filepath.Join(chart, "files")

	sync()
	crds := readDir(t, filepath.Join(chart, "crds"))
	if len(crds) != 1 || string(crds["iam.signet.dev_widgets.yaml"]) != "kind: CustomResourceDefinition\n" {
		t.Errorf("crds/ after the sync: %v, want only the copied CRD", slices.Collect(maps.Keys(crds)))
	}
	cluster, namespaced := rulesByKind(t, fixture)
	if len(cluster) != 3 || len(namespaced) != 2 {
		t.Fatalf("the fixture has %d cluster-wide and %d namespaced rules, want 3 and 2", len(cluster), len(namespaced))
	}
	checkRulesFile(t, filepath.Join(files, "manager-rules.yaml"), cluster)
	checkRulesFile(t, filepath.Join(files, "manager-namespace-rules.yaml"), namespaced)
	// The namespaced rules become a Role in the release namespace, bound to
	// the manager alone.
	for _, values := range []map[string]any{nil, {"tokenServer": map[string]any{"standalone": true}}} {
		m := renderChart(t, chart, values)
		checkRBAC(t, m, decodeAll[appsv1.Deployment](t, m, "Deployment"), cluster, namespaced)
	}

	if err := os.Remove(filepath.Join(tree, "config", "rbac", "role.yaml")); err != nil {
		t.Fatal(err)
	}
	sync()
	checkRulesFile(t, filepath.Join(files, "manager-rules.yaml"), nil)
	checkRulesFile(t, filepath.Join(files, "manager-namespace-rules.yaml"), nil)
}

// checkRulesFile checks a chart rules file is a YAML list of exactly want.
func checkRulesFile(t *testing.T, path string, want []rbacv1.PolicyRule) {
	t.Helper()
	var got []rbacv1.PolicyRule
	if err := yaml.UnmarshalStrict(readFile(t, path), &got); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !reflect.DeepEqual(normalRules(got), normalRules(want)) {
		t.Errorf("%s:\n got %+v\nwant %+v\n%s", path, got, want, syncHint)
	}
}

// readDir returns the contents of the YAML files in a directory by name.
func readDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		out[filepath.Base(p)] = readFile(t, p)
	}
	return out
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}
