package image

import (
	"archive/tar"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

var (
	goBinaryOnce sync.Once
	goBinary     string
	goBinaryErr  error
	// built is the image testImage built first: gzipping the binaries is
	// the slow part, so the tests share it.
	built v1.Image
)

// testImage builds an image whose two binaries are hack/image, a Go binary
// with module dependencies like the real ones, and small enough to
// compress quickly. (A test binary records no dependencies.)
func testImage(t *testing.T) (v1.Image, Options) {
	t.Helper()
	goBinaryOnce.Do(func() {
		dir, err := os.MkdirTemp("", "signet-image-test-")
		if err != nil {
			goBinaryErr = err
			return
		}
		goBinary = filepath.Join(dir, "image")
		out, err := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", goBinary, "github.com/signet-iam/signet/hack/image").CombinedOutput()
		if err != nil {
			goBinaryErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if goBinaryErr != nil {
		t.Fatal(goBinaryErr)
	}
	exe := goBinary
	o := Options{
		Manager: exe, TokenServer: exe,
		CACerts:  []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		Platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Created:  time.Unix(1700000000, 0).UTC(),
		Version:  "1.2.3",
	}
	if built == nil {
		img, err := Build(o)
		if err != nil {
			t.Fatal(err)
		}
		built = img
	}
	return built, o
}

func TestImage(t *testing.T) {
	built, o := testImage(t)
	out, err := Write(t.TempDir(), "signet", Repository+":1.2.3", built)
	if err != nil {
		t.Fatal(err)
	}
	img, err := Load(out.Layout)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("not a valid image: %v", err)
	}
	for _, f := range []string{out.Archive, out.SBOM} {
		if fi, err := os.Stat(f); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != User || c.WorkingDir != Home || !slices.Equal(c.Entrypoint, []string{ManagerPath}) ||
		!slices.Contains(c.Env, "SSL_CERT_FILE="+CACertsPath) || c.Labels["org.opencontainers.image.version"] != "1.2.3" {
		t.Errorf("config %+v", c)
	}
	if cf.Architecture != runtime.GOARCH || cf.OS != "linux" || !cf.Created.Equal(o.Created) {
		t.Errorf("platform %s/%s, created %v", cf.OS, cf.Architecture, cf.Created)
	}

	files := map[string]*tar.Header{}
	if err := walk(img, func(h *tar.Header, _ []byte) error { files["/"+h.Name] = h; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		name     string
		mode     int64
		uid, gid int
	}{
		// Root owns the binaries, so that the user running them cannot
		// replace them.
		{ManagerPath, 0o755, 0, 0},
		{TokenServerPath, 0o755, 0, 0},
		{CACertsPath, 0o644, 0, 0},
		{"/etc/passwd", 0o644, 0, 0},
		{"/etc/group", 0o644, 0, 0},
	} {
		h := files[want.name]
		if h == nil || h.Mode != want.mode || h.Uid != want.uid || h.Gid != want.gid || !h.ModTime.Equal(o.Created) {
			t.Errorf("%s: %+v, want mode %o owned by %d:%d", want.name, h, want.mode, want.uid, want.gid)
		}
	}

	dir := t.TempDir()
	if err := Unpack(img, dir); err != nil {
		t.Fatal(err)
	}
	passwd, err := os.ReadFile(dir + "/etc/passwd")
	if err != nil || !strings.Contains(string(passwd), "nonroot:x:65532:65532:nonroot:/home/nonroot:") {
		t.Errorf("/etc/passwd: %q, %v", passwd, err)
	}
	if fi, err := os.Stat(dir + "/tmp"); err != nil || fi.Mode()&os.ModeSticky == 0 || fi.Mode().Perm() != 0o777 {
		t.Errorf("/tmp: %v, %v; want drwxrwxrwt", fi.Mode(), err)
	}
	if fi, err := os.Stat(dir + Home); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v", Home, err)
	}
}

// TestImageIsReproducible: the same inputs give the same digest, so that a
// rebuild can be checked against a published image.
func TestImageIsReproducible(t *testing.T) {
	a, o := testImage(t)
	b, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("two builds: %s and %s", da, db)
	}
}

func TestImageNeedsCACertificates(t *testing.T) {
	if _, err := Build(Options{}); err == nil || !strings.Contains(err.Error(), "CA certificates") {
		t.Errorf("Build without CA certificates: %v", err)
	}
}

func TestSBOM(t *testing.T) {
	img, _ := testImage(t)
	bom, err := SBOM(img, Repository+":1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	digest, _ := img.Digest()
	if bom.Metadata.Component.Version != digest.String() || bom.Metadata.Component.Type != cdx.ComponentTypeContainer {
		t.Errorf("metadata %+v", bom.Metadata.Component)
	}
	byName := map[string]cdx.Component{}
	for _, c := range *bom.Components {
		byName[c.Name] = c
	}
	for _, bin := range []string{ManagerPath, TokenServerPath} {
		c, ok := byName[bin]
		if !ok || c.Type != cdx.ComponentTypeApplication || c.Components == nil {
			t.Fatalf("%s: %+v", bin, c)
		}
		libs := map[string]string{}
		for _, l := range *c.Components {
			libs[l.Name] = l.PackageURL
		}
		// hack/image links go-containerregistry, as the real binaries
		// link controller-runtime.
		if libs["stdlib"] != "pkg:golang/stdlib@"+runtime.Version() ||
			!strings.HasPrefix(libs["github.com/google/go-containerregistry"], "pkg:golang/github.com/google/go-containerregistry@v") {
			t.Errorf("%s lists %v", bin, libs)
		}
	}
	if ca := byName[CACertsPath]; ca.Type != cdx.ComponentTypeFile || ca.Hashes == nil || len((*ca.Hashes)[0].Value) != 64 {
		t.Errorf("%s: %+v", CACertsPath, ca)
	}
}
