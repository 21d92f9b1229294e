package chart_test

import (
	"strings"
	"testing"
)

// TestLint runs helm lint --strict, which also renders the templates and
// validates the values against values.schema.json, for the default values
// and the other layouts.
func TestLint(t *testing.T) {
	for name, tc := range map[string]renderCase{
		"defaults":    renderCases["the defaults run two Pods, each with the manager and the token server"],
		"standalone":  renderCases["a standalone token server has its own Deployment and ServiceAccount"],
		"all options": renderCases["standalone with monitoring, network policy and cert-manager"],
	} {
		t.Run(name, func(t *testing.T) {
			out, err := runHelm("lint", "--strict", chartDir, "--namespace", namespace, "-f", valuesFile(t, tc.values))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(out), "0 chart(s) failed") {
				t.Fatalf("helm lint:\n%s", out)
			}
		})
	}
}

// TestRejectedValues checks that the schema and the templates refuse values
// that would install a broken or unsafe Signet, with a message naming the
// problem.
func TestRejectedValues(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		want   string
	}{
		"a symmetric signing algorithm": {
			values: map[string]any{"signing": map[string]any{"algorithm": "HS256"}},
			want:   "/signing/algorithm",
		},
		"negative replicas": {
			values: map[string]any{"replicaCount": -1},
			want:   "/replicaCount",
		},
		"negative token server replicas": {
			values: map[string]any{"tokenServer": map[string]any{"replicaCount": -2}},
			want:   "/tokenServer/replicaCount",
		},
		"an unknown top-level key": {
			values: map[string]any{"replicas": 3},
			want:   "additional properties 'replicas' not allowed",
		},
		"an unknown nested key": {
			values: map[string]any{"tokenServer": map[string]any{"standAlone": true}},
			want:   "additional properties 'standAlone' not allowed",
		},
		"a plain-HTTP issuer": {
			values: map[string]any{"issuer": "http://signet.example.com"},
			want:   "/issuer",
		},
		"an issuer with a query": {
			values: map[string]any{"issuer": "https://signet.example.com/?tenant=a"},
			want:   "/issuer",
		},
		"a rotation that is not a duration": {
			values: map[string]any{"signing": map[string]any{"keyRotation": "30 days"}},
			want:   "/signing/keyRotation",
		},
		"a log level the manager does not know": {
			values: map[string]any{"manager": map[string]any{"logLevel": "verbose"}},
			want:   "/manager/logLevel",
		},
		"an unknown anti-affinity mode": {
			values: map[string]any{"podAntiAffinity": "always"},
			want:   "/podAntiAffinity",
		},
		"a Service port out of range": {
			values: map[string]any{"service": map[string]any{"port": 70000}},
			want:   "/service/port",
		},
		"an existing Secret and cert-manager together": {
			values: map[string]any{"tls": map[string]any{
				"existingSecret": "mine",
				"certManager":    map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "ca"}},
			}},
			want: "set tls.existingSecret or tls.certManager.enabled, not both",
		},
		"cert-manager without an issuer": {
			values: map[string]any{"tls": map[string]any{"certManager": map[string]any{"enabled": true}}},
			want:   "tls.certManager.issuerRef.name must name the Issuer or ClusterIssuer",
		},
		"both disruption budget bounds": {
			values: map[string]any{"podDisruptionBudget": map[string]any{"maxUnavailable": 1}},
			want:   "set podDisruptionBudget.minAvailable or podDisruptionBudget.maxUnavailable, not both",
		},
		"no ServiceAccount to run as": {
			values: map[string]any{"serviceAccount": map[string]any{"create": false}},
			want:   "serviceAccount.name must name an existing ServiceAccount",
		},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := template(t, tc.values)
			if err == nil {
				t.Fatalf("helm template accepted %v", tc.values)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("the error does not mention %q:\n%v", tc.want, err)
			}
		})
	}
}
