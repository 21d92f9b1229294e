package kubectlsignet

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const root = "../.."

// krewPlugin is the part of krew's Plugin (v1alpha2) that Signet fills in.
type krewPlugin struct {
	APIVersion string
	Kind       string
	Metadata   struct{ Name string }
	Spec       struct {
		Version   string
		Platforms []struct {
			Selector struct{ MatchLabels map[string]string }
			URI      string
			Sha256   string
			Bin      string
			Files    []struct{ From, To string }
		}
	}
}

func readPlugin(t *testing.T, path string) krewPlugin {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p krewPlugin
	if err := yaml.Unmarshal(data, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// TestKrewManifest checks plugins/signet.yaml against what the release
// ships: the chart's version, one archive per platform named as make krew
// names it, the binary and the completion script in each.
func TestKrewManifest(t *testing.T) {
	p := readPlugin(t, filepath.Join(root, "plugins", "signet.yaml"))
	var chart struct{ AppVersion string }
	data, err := os.ReadFile(filepath.Join(root, "charts", "signet", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, &chart); err != nil {
		t.Fatal(err)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" || p.Metadata.Name != "signet" {
		t.Errorf("not krew's Plugin signet: %s %s %s", p.APIVersion, p.Kind, p.Metadata.Name)
	}
	if p.Spec.Version != "v"+chart.AppVersion {
		t.Errorf("version %s, want v%s as the chart", p.Spec.Version, chart.AppVersion)
	}
	if len(p.Spec.Platforms) == 0 {
		t.Fatal("no platforms")
	}
	for _, pl := range p.Spec.Platforms {
		goos, arch := pl.Selector.MatchLabels["os"], pl.Selector.MatchLabels["arch"]
		archive := "/releases/download/" + p.Spec.Version + "/kubectl-signet_" + goos + "_" + arch + ".tar.gz"
		if !strings.HasSuffix(pl.URI, archive) || pl.Sha256 != "@SHA256_"+goos+"_"+arch+"@" || pl.Bin != "kubectl-signet" {
			t.Errorf("%s/%s: uri %s, sha256 %s, bin %s", goos, arch, pl.URI, pl.Sha256, pl.Bin)
		}
		var from []string
		for _, f := range pl.Files {
			from = append(from, f.From)
		}
		if !slices.Contains(from, "kubectl-signet") || !slices.Contains(from, "kubectl_complete-signet") {
			t.Errorf("%s/%s installs %v", goos, arch, from)
		}
	}
}

// TestKrewRelease runs hack/krew.sh for this machine's platform: the
// archive holds what the manifest installs, its checksum is in the written
// manifest, and the binary in it runs.
func TestKrewRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds kubectl-signet")
	}
	out := t.TempDir()
	platform := runtime.GOOS + "/" + runtime.GOARCH
	if b, err := exec.Command(filepath.Join(root, "hack", "krew.sh"), out, platform).CombinedOutput(); err != nil {
		t.Fatalf("hack/krew.sh: %v\n%s", err, b)
	}
	name := "kubectl-signet_" + runtime.GOOS + "_" + runtime.GOARCH + ".tar.gz"
	data, err := os.ReadFile(filepath.Join(out, name))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	p := readPlugin(t, filepath.Join(out, "signet.yaml"))
	found := false
	for _, pl := range p.Spec.Platforms {
		if strings.HasSuffix(pl.URI, "/"+name) {
			found = pl.Sha256 == hex.EncodeToString(sum[:])
		}
	}
	if !found {
		t.Errorf("the written manifest lacks the checksum of %s", name)
	}

	dir := t.TempDir()
	untar(t, filepath.Join(out, name), dir)
	for _, f := range []string{"kubectl-signet", "kubectl_complete-signet", "LICENSE"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("the archive lacks %s", f)
		}
	}
	// The completion script finds the plugin on the PATH, as krew installs
	// both, and answers with cobra's completions.
	cmd := exec.Command(filepath.Join(dir, "kubectl_complete-signet"), "")
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	got, err := cmd.Output()
	if err != nil || !strings.Contains(string(got), "token\t") || !strings.Contains(string(got), "can-grant\t") {
		t.Errorf("kubectl_complete-signet '': %v\n%s", err, got)
	}
}

func untar(t *testing.T, archive, dir string) {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		w, err := os.OpenFile(filepath.Join(dir, filepath.Base(h.Name)), os.O_CREATE|os.O_WRONLY, os.FileMode(h.Mode).Perm())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(w, tr); err != nil {
			t.Fatal(err)
		}
		_ = w.Close()
	}
}
