package chart_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/signet-iam/signet/internal/image"
)

// TestImageAgreesWithChartAndDockerfile checks that the three descriptions
// of Signet's image say the same: internal/image (what "make image"
// builds), the Dockerfile, and the chart's default image and
// securityContext. A user, a path or a tag changed in one place fails here.
func TestImageAgreesWithChartAndDockerfile(t *testing.T) {
	dockerfile := string(readFile(t, root+"/Dockerfile"))
	for _, want := range []string{
		"USER " + image.User,
		`ENTRYPOINT ["` + image.ManagerPath + `"]`,
		"COPY --from=builder /out/manager " + image.ManagerPath,
		"COPY --from=builder /out/token-server " + image.TokenServerPath,
		"CGO_ENABLED=0",
		// The Makefile's build flags, which "make image" packages.
		"go build " + makeVariable(t, "BUILD_FLAGS") + " -o /out/",
	} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("the Dockerfile lacks %q, which the image built by make image has", want)
		}
	}
	for label, value := range image.Labels("") {
		if value != "" && !strings.Contains(dockerfile, label+`="`+value+`"`) {
			t.Errorf("the Dockerfile lacks the label %s=%q", label, value)
		}
	}

	var chart struct{ AppVersion string }
	if err := yaml.Unmarshal(readFile(t, chartDir+"/Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	wantImage := image.Repository + ":" + chart.AppVersion
	paths := []string{image.ManagerPath, image.TokenServerPath}
	for _, standalone := range []bool{false, true} {
		m := render(t, map[string]any{"tokenServer": map[string]any{"standalone": standalone}})
		for _, d := range decodeAll[appsv1.Deployment](t, m, "Deployment") {
			pod := d.Spec.Template.Spec
			if sc := pod.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != image.UID ||
				sc.RunAsGroup == nil || *sc.RunAsGroup != image.GID {
				t.Errorf("Deployment %s: pod securityContext %+v, want runAsUser %d and runAsGroup %d as the image's USER",
					d.Name, sc, image.UID, image.GID)
			}
			for _, c := range pod.Containers {
				if c.Image != wantImage {
					t.Errorf("container %s runs image %s, want %s (make image tags the chart's appVersion)", c.Name, c.Image, wantImage)
				}
				if len(c.Command) != 1 || !slices.Contains(paths, c.Command[0]) {
					t.Errorf("container %s runs %v, want one of the image's binaries %v", c.Name, c.Command, paths)
				}
			}
		}
	}
}

// makeVariable returns the default value of a "NAME ?= value" line of the
// Makefile.
func makeVariable(t *testing.T, name string) string {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `\s*\?=\s*(.+)$`)
	m := re.FindSubmatch(readFile(t, root+"/Makefile"))
	if m == nil {
		t.Fatalf("the Makefile has no %s ?= line", name)
	}
	return strings.TrimSpace(string(m[1]))
}
