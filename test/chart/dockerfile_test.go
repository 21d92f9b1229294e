package chart_test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

const module = "github.com/signet-iam/signet"

// TestDockerfile checks, since the image cannot be built here, what a build
// would need: that the build context (.dockerignore) and the builder's COPY
// lines hold every Signet package the two binaries import, that the image
// runs as the nonroot user, and that it has the binaries at the paths the
// chart's containers run.
func TestDockerfile(t *testing.T) {
	dockerfile := string(readFile(t, filepath.Join(root, "Dockerfile")))
	var ignore []string
	for line := range strings.Lines(string(readFile(t, filepath.Join(root, ".dockerignore")))) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			ignore = append(ignore, line)
		}
	}

	var copied []string
	images := map[string]bool{}
	for line := range strings.Lines(dockerfile) {
		fields := strings.Fields(line)
		if len(fields) > 2 && fields[0] == "COPY" && !strings.HasPrefix(fields[1], "--from=") {
			for _, src := range fields[1 : len(fields)-1] {
				copied = append(copied, strings.TrimSuffix(src, "/"))
			}
		}
		if len(fields) > 1 && fields[0] == "COPY" && strings.HasPrefix(fields[1], "--from=") {
			images[fields[len(fields)-1]] = true
		}
	}
	if len(ignore) == 0 || ignore[0] != "*" {
		t.Errorf(".dockerignore must start by excluding everything (*)")
	}
	for _, src := range copied {
		if !slices.Contains(ignore, "!"+src) && !slices.Contains(ignore, "!"+src+"/") {
			t.Errorf("the Dockerfile copies %s, which .dockerignore leaves out of the context", src)
		}
	}

	list := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./cmd/manager", "./cmd/token-server")
	list.Dir = root
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imported := 0
	for pkg := range strings.Lines(string(out)) {
		rel, ok := strings.CutPrefix(strings.TrimSpace(pkg), module+"/")
		if !ok {
			continue
		}
		imported++
		if top, _, _ := strings.Cut(rel, "/"); !slices.Contains(copied, top) {
			t.Errorf("the binaries import %s, but the Dockerfile does not copy %s/", rel, top)
		}
	}
	if imported == 0 {
		t.Fatal("go list found no Signet packages")
	}

	for _, want := range []string{"FROM gcr.io/distroless/static:nonroot", "USER 65532:65532", "CGO_ENABLED=0", "-trimpath", "./cmd/manager ./cmd/token-server"} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	// Every command the chart runs is a binary in the image.
	m := render(t, map[string]any{"tokenServer": map[string]any{"standalone": true}})
	for _, d := range decodeAll[appsv1.Deployment](t, m, "Deployment") {
		for _, c := range d.Spec.Template.Spec.Containers {
			if len(c.Command) != 1 || !images[c.Command[0]] {
				t.Errorf("container %s runs %v, which the image does not have (it has %v)", c.Name, c.Command, images)
			}
		}
	}
}
