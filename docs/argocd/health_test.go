// Package argocd_test runs Signet's Argo CD health check (health.lua) the
// way Argo CD does: in gopher-lua with only the package, base and table
// libraries, the object as the global table obj, and the returned table read
// as {status, message}.
package argocd_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	"sigs.k8s.io/yaml"
)

// healthStatuses are the statuses Argo CD accepts from a health check.
var healthStatuses = map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}

type health struct{ status, message string }

// runHealth runs script against an object given as YAML.
func runHealth(t *testing.T, script, object string) health {
	t.Helper()
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(object), &obj); err != nil {
		t.Fatal(err)
	}
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for name, open := range map[string]lua.LGFunction{lua.LoadLibName: lua.OpenPackage, lua.BaseLibName: lua.OpenBase, lua.TabLibName: lua.OpenTable} {
		l.Push(l.NewFunction(open))
		l.Push(lua.LString(name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", toLua(l, obj))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	l.SetContext(ctx)
	if err := l.DoString(script); err != nil {
		t.Fatalf("running the script: %v", err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("the script returned %s, not a table", l.Get(-1).Type())
	}
	h := health{status: lua.LVAsString(ret.RawGetString("status")), message: lua.LVAsString(ret.RawGetString("message"))}
	if !healthStatuses[h.status] {
		t.Fatalf("the script returned status %q, which Argo CD does not accept", h.status)
	}
	return h
}

// toLua converts decoded JSON into Lua values as Argo CD does.
func toLua(l *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case map[string]any:
		t := l.CreateTable(0, len(v))
		for key, item := range v {
			t.RawSetString(key, toLua(l, item))
		}
		return t
	case []any:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	default:
		return lua.LNil
	}
}

func readScript(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("health.lua")
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// object builds a Signet object of a kind at generation 2 with the given
// status (YAML, indented by two spaces under "status:"; empty for none).
func object(kind, status string) string {
	obj := "apiVersion: iam.signet.dev/v1alpha1\nkind: " + kind + "\nmetadata:\n  name: sample\n  namespace: team-a\n  generation: 2\nspec: {}\n"
	if status != "" {
		obj += "status:\n" + status
	}
	return obj
}

// conditions renders a status with observedGeneration and conditions given
// as "Type=Status/Reason/Message".
func conditions(observedGeneration string, conds ...string) string {
	var b strings.Builder
	if observedGeneration != "" {
		b.WriteString("  observedGeneration: " + observedGeneration + "\n")
	}
	b.WriteString("  conditions:\n")
	for _, c := range conds {
		typeStatus, rest, _ := strings.Cut(c, "/")
		typ, status, _ := strings.Cut(typeStatus, "=")
		reason, message, _ := strings.Cut(rest, "/")
		b.WriteString("  - type: " + typ + "\n    status: \"" + status + "\"\n    reason: " + reason + "\n    message: \"" + message + "\"\n    lastTransitionTime: \"2026-01-01T00:00:00Z\"\n")
	}
	return b.String()
}

func TestHealth(t *testing.T) {
	script := readScript(t)
	ready := "Ready=True/Ready/Credential is in force"
	for name, tc := range map[string]struct {
		object      string
		want        string
		wantMessage string
	}{
		"a new object without status is Progressing": {
			object: object("ClientCredential", ""), want: "Progressing", wantMessage: "Waiting for the Signet manager",
		},
		"an empty conditions list is Progressing": {
			object: object("ServiceAccount", "  observedGeneration: 2\n  conditions: []\n"), want: "Progressing",
		},
		"an object being deleted is Progressing": {
			object: strings.Replace(object("AccessRule", conditions("2", ready)), "  generation: 2\n", "  generation: 2\n  deletionTimestamp: \"2026-01-01T00:00:00Z\"\n", 1),
			want:   "Progressing", wantMessage: "Being deleted",
		},
		"Ready at the current generation is Healthy": {
			object: object("ClientCredential", conditions("2", ready)), want: "Healthy", wantMessage: "Credential is in force",
		},
		"Ready for an older generation is Progressing": {
			object: object("ClientCredential", conditions("1", ready)), want: "Progressing", wantMessage: "generation 2",
		},
		"Ready without observedGeneration is Progressing": {
			object: object("AccessRule", conditions("", ready)), want: "Progressing",
		},
		"Reconciling is Progressing": {
			object: object("ServiceAccount", conditions("2", "Ready=False/Progressing/Compiling grants", "Reconciling=True/Progressing/Compiling grants")),
			want:   "Progressing", wantMessage: "Compiling grants",
		},
		"Stalled is Degraded": {
			object: object("ClientCredential", conditions("2", "Ready=False/SecretNameConflict/x", "Stalled=True/SecretNameConflict/Secret app is claimed by ClientCredential other")),
			want:   "Degraded", wantMessage: "Secret app is claimed by ClientCredential other",
		},
		"Stalled wins over an unobserved generation": {
			object: object("ClientCredential", conditions("1", "Ready=False/InvalidPublicKeys/x", "Stalled=True/InvalidPublicKeys/publicKeys[0] is not a PEM public key")),
			want:   "Degraded",
		},
		"ExpiringSoon keeps a Ready credential Healthy and says so": {
			object: object("ClientCredential", conditions("2", ready, "ExpiringSoon=True/ExpiringSoon/The secret expires at 2026-02-01T00:00:00Z")),
			want:   "Healthy", wantMessage: "Ready; The secret expires at",
		},
		"a disabled ServiceAccount is Suspended": {
			object: object("ServiceAccount", conditions("2", "Ready=False/Disabled/spec.disabled is set")), want: "Suspended", wantMessage: "spec.disabled is set",
		},
		"a revoked ClientCredential is Suspended": {
			object: object("ClientCredential", conditions("2", "Ready=False/Revoked/spec.revoked is set")), want: "Suspended",
		},
		"a credential of a disabled account is Suspended": {
			object: object("ClientCredential", conditions("2", "Ready=False/ServiceAccountNotReady/ServiceAccount ci is disabled")), want: "Suspended",
		},
		"an expired AccessRule, a time-boxed grant that ended, is Suspended": {
			object: object("AccessRule", conditions("2", "Ready=False/Expired/The grant expired at 2026-01-01T00:00:00Z")), want: "Suspended",
		},
		"an expired ServiceAccount is Degraded": {
			object: object("ServiceAccount", conditions("2", "Ready=False/Expired/The account expired")), want: "Degraded", wantMessage: "The account expired",
		},
		"an expired ClientCredential is Degraded": {
			object: object("ClientCredential", conditions("2", "Ready=False/Expired/The secret expired")), want: "Degraded",
		},
		"Disabled on a kind it does not suspend is Degraded": {
			object: object("AccessRule", conditions("2", "Ready=False/Disabled/x")), want: "Degraded",
		},
		"a missing ServiceAccount is Degraded": {
			object: object("ClientCredential", conditions("2", "Ready=False/ServiceAccountNotFound/ServiceAccount ci does not exist")), want: "Degraded", wantMessage: "ServiceAccount ci does not exist",
		},
		"an AccessRule naming missing subjects is Degraded": {
			object: object("AccessRule", conditions("2", "Ready=False/SubjectsMissing/ServiceAccount ghost does not exist")), want: "Degraded",
		},
		"a transient error is Degraded": {
			object: object("ClientCredential", conditions("2", "Ready=False/ReconcileError/")), want: "Degraded", wantMessage: "ReconcileError",
		},
		"waiting for keys is Progressing": {
			object: object("ClientCredential", conditions("2", "Ready=False/KeysNotReady/Waiting for the hash key")), want: "Progressing",
		},
		"Ready Unknown is Progressing": {
			object: object("ServiceAccount", conditions("2", "Ready=Unknown/Progressing/")), want: "Progressing",
		},
		"conditions without Ready are Progressing": {
			object: object("ServiceAccount", conditions("2", "ExpiringSoon=True/ExpiringSoon/soon")), want: "Progressing",
		},
	} {
		t.Run(name, func(t *testing.T) {
			got := runHealth(t, script, tc.object)
			if got.status != tc.want || !strings.Contains(got.message, tc.wantMessage) {
				t.Errorf("got %s %q, want %s with a message containing %q", got.status, got.message, tc.want, tc.wantMessage)
			}
		})
	}
}

// TestHealthOfSamples runs the check on every object in config/samples as
// applied, before the manager has written a status.
func TestHealthOfSamples(t *testing.T) {
	script := readScript(t)
	paths, err := filepath.Glob(filepath.Join("..", "..", "config", "samples", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no samples in config/samples (%v)", err)
	}
	n := 0
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(data), "\n---\n") {
			var obj struct{ Kind, APIVersion string }
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if !strings.HasPrefix(obj.APIVersion, "iam.signet.dev/") {
				continue
			}
			n++
			if got := runHealth(t, script, doc); got.status != "Progressing" {
				t.Errorf("%s %s: got %s, want Progressing before reconciliation", filepath.Base(p), obj.Kind, got.status)
			}
		}
	}
	if n == 0 {
		t.Fatal("the samples hold no Signet objects")
	}
}

// TestArgoCDConfigMap checks argocd-cm.yaml installs health.lua, unchanged,
// for each of the three kinds.
func TestArgoCDConfigMap(t *testing.T) {
	data, err := os.ReadFile("argocd-cm.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct{ Data map[string]string }
	if err := yaml.UnmarshalStrict(data, &cm); err != nil {
		t.Fatal(err)
	}
	script := readScript(t)
	for _, kind := range []string{"ServiceAccount", "AccessRule", "ClientCredential"} {
		key := "resource.customizations.health.iam.signet.dev_" + kind
		if cm.Data[key] != script {
			t.Errorf("argocd-cm.yaml: %s is not health.lua", key)
		}
	}
	if len(cm.Data) != 3 {
		t.Errorf("argocd-cm.yaml has %d keys, want 3", len(cm.Data))
	}
}
