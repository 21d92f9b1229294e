package chart_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	// Registers the manager's metrics in controller-runtime's registry, as
	// the manager binary does.
	_ "github.com/signet-iam/signet/controllers"
	"github.com/signet-iam/signet/internal/tokenserver"
	"github.com/signet-iam/signet/internal/tokenserver/index"
)

// monitoringValues turns on the dashboard and the alerts.
var monitoringValues = map[string]any{"monitoring": map[string]any{
	"dashboard":      map[string]any{"enabled": true},
	"prometheusRule": map[string]any{"enabled": true},
}}

// TestMonitoringOffByDefault: the dashboard ConfigMap and the PrometheusRule
// need the Grafana sidecar and the Prometheus Operator, so a default install
// renders neither.
func TestMonitoringOffByDefault(t *testing.T) {
	m := render(t, nil)
	if n := len(m.all("PrometheusRule")) + len(m.all("ConfigMap")); n != 0 {
		t.Errorf("the defaults render %d dashboard ConfigMaps or PrometheusRules", n)
	}
}

// TestMonitoringMetricsExist renders the dashboard and the alerts and checks
// that every metric their expressions name is one the manager or the token
// server registers, so that a renamed metric fails here and not on a blank
// dashboard or a silent alert.
func TestMonitoringMetricsExist(t *testing.T) {
	m := render(t, monitoringValues)
	checkKinds(t, m)
	exprs := dashboardExprs(t, m)
	if len(exprs) < 10 {
		t.Errorf("the dashboard has %d expressions; want a panel for each of tokens, refusals, latency, expiry, rotations, propagation, index, connectivity and reconciles", len(exprs))
	}
	rules := ruleExprs(t, m)
	if len(rules) < 5 {
		t.Errorf("the PrometheusRule has %d alerts, want at least 5", len(rules))
	}
	checkAlertsDocumented(t, rules)
	maps := []map[string]string{exprs, rules}
	known := registeredMetrics(t)
	for _, set := range maps {
		for where, expr := range set {
			names := metricNames(expr)
			if len(names) == 0 {
				t.Errorf("%s: no metric found in %q", where, expr)
			}
			for _, name := range names {
				if !known(name) {
					t.Errorf("%s: %s is not a metric Signet or controller-runtime registers (in %q)", where, name, expr)
				}
			}
		}
	}
}

// checkAlertsDocumented: whoever is paged reads docs/operations.md for what
// an alert means and what to do, so each alert must be there.
func checkAlertsDocumented(t *testing.T, rules map[string]string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(root, "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for where := range rules {
		name := strings.TrimPrefix(where, "alert ")
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/operations.md does not explain %s", name)
		}
	}
}

// dashboardExprs returns the PromQL of every panel target and template
// variable of the dashboard ConfigMap, keyed by where it is.
func dashboardExprs(t *testing.T, m manifest) map[string]string {
	t.Helper()
	cms := m.all("ConfigMap")
	if len(cms) != 1 {
		t.Fatalf("want one dashboard ConfigMap, got %d", len(cms))
	}
	cm := cms[0]
	if got := cm.GetLabels()["grafana_dashboard"]; got != "1" {
		t.Errorf("the dashboard ConfigMap has grafana_dashboard=%q; Grafana's sidecar loads only \"1\"", got)
	}
	data, _, _ := unstructured.NestedStringMap(cm.Object, "data")
	if len(data) != 1 {
		t.Fatalf("want one dashboard in the ConfigMap, got %d", len(data))
	}
	var dash struct {
		UID        string  `json:"uid"`
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	for _, body := range data {
		if err := json.Unmarshal([]byte(body), &dash); err != nil {
			t.Fatalf("the dashboard is not JSON: %v", err)
		}
	}
	if dash.UID == "" {
		t.Error("the dashboard has no uid: each import would make a copy")
	}
	exprs := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			for _, target := range p.Targets {
				exprs["panel "+p.Title+" "+target.RefID] = target.Expr
			}
		}
	}
	walk(dash.Panels)
	for _, v := range dash.Templating.List {
		// label_values(metric, label) is Grafana's, not PromQL: keep the
		// metric.
		if sel, ok := strings.CutPrefix(v.Definition, "label_values("); ok {
			sel, _, _ = strings.Cut(sel, ",")
			exprs["variable "+v.Name] = sel
		}
	}
	return exprs
}

// panel is the part of a Grafana panel that holds queries; rows nest panels.
type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

// ruleExprs returns each alert's expression, keyed by alert name.
func ruleExprs(t *testing.T, m manifest) map[string]string {
	t.Helper()
	rules := m.all("PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("want one PrometheusRule, got %d", len(rules))
	}
	groups, _, _ := unstructured.NestedSlice(rules[0].Object, "spec", "groups")
	exprs := map[string]string{}
	for _, g := range groups {
		rs, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rs {
			r := r.(map[string]any)
			name, _ := r["alert"].(string)
			expr, _ := r["expr"].(string)
			if name == "" || expr == "" {
				t.Errorf("a rule without alert name or expression: %v", r)
				continue
			}
			if _, ok := r["annotations"].(map[string]any)["description"]; !ok {
				t.Errorf("alert %s has no description saying what to do", name)
			}
			exprs["alert "+name] = expr
		}
	}
	return exprs
}

var (
	// promStrings are PromQL string literals; promMatchers label matchers
	// and range or subquery durations; promGrouping the label lists of
	// by/without/on/ignoring/group_left/group_right.
	promStrings  = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	// promIdent is an identifier not glued to a number (1e-9), a
	// variable ($__rate_interval) or another identifier.
	promIdent = regexp.MustCompile(`(?:^|[^a-zA-Z0-9_:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)`)
	promWords = []string{"and", "or", "unless", "offset", "bool", "inf", "nan", "atan2", "start", "end"}
)

// metricNames returns the metric names a PromQL expression selects: the
// identifiers left once strings, matchers, ranges and grouping labels are
// removed, that are not followed by "(" (functions and aggregations) and
// are not keywords. It is a lexer, not Prometheus's parser (which would
// bring the whole Prometheus module into go.mod); TestMetricNames pins what
// it recognises.
func metricNames(expr string) []string {
	s := promStrings.ReplaceAllString(expr, `""`)
	s = promMatchers.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range promIdent.FindAllStringSubmatchIndex(s, -1) {
		name, rest := s[loc[2]:loc[3]], strings.TrimLeft(s[loc[3]:], " \t\n")
		if strings.HasPrefix(rest, "(") || slices.Contains(promWords, strings.ToLower(name)) {
			continue
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (grant) (rate(signet_a_total{job=~"$job", reason="by(x)"}[$__rate_interval]))`: {"signet_a_total"},
		`a / (b + c) > 0.25 and sum without (le) (d offset 5m) > 1e-9`:                         {"a", "b", "c", "d"},
		"histogram_quantile(0.99, sum by (le) (rate(x_bucket[5m])))":                           {"x_bucket"},
		"time() - (y > 0)":                                   {"y"},
		"min(z) - time() < 7 * 86400":                        {"z"},
		"sum by (a) (rate(q[5m])) / on (a) group_left (b) w": {"q", "w"},
	} {
		if got := metricNames(expr); !slices.Equal(got, want) {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}

// registeredMetrics returns a test of whether a metric name is registered
// by the manager (controller-runtime's registry, where controllers and
// controller-runtime itself register) or by a real token server. A series
// name of a histogram or summary (_bucket, _sum, _count) counts as its
// family's.
//
// Gathering would miss labelled metrics no request has touched yet, so each
// name is probed instead: registering a gauge of that name fails if and
// only if a collector already describes it.
func registeredMetrics(t *testing.T) func(string) bool {
	t.Helper()
	ts, err := tokenserver.New(tokenserver.Config{
		Issuer: "https://signet.example", Index: index.New(), Ledger: nopLedger{}, Source: nopSource{},
	})
	if err != nil {
		t.Fatal(err)
	}
	registries := []prometheus.Registerer{metrics.Registry, ts.Registry()}
	taken := func(name string) bool {
		for _, reg := range registries {
			probe := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: "probe"})
			if err := prometheus.NewRegistry().Register(probe); err != nil {
				t.Fatalf("probing %q: %v", name, err)
			}
			if reg.Register(probe) != nil {
				return true
			}
			reg.Unregister(probe)
		}
		return false
	}
	return func(name string) bool {
		if taken(name) {
			return true
		}
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && taken(base) {
				return true
			}
		}
		return false
	}
}

// TestRegisteredMetricsProbe checks the probe both ways on names known to be
// registered and not.
func TestRegisteredMetricsProbe(t *testing.T) {
	known := registeredMetrics(t)
	for name, want := range map[string]bool{
		"signet_credential_expiration_timestamp_seconds":         true,
		"signet_token_server_request_duration_seconds_bucket":    true,
		"controller_runtime_reconcile_total":                     true,
		"signet_token_server_index_records":                      true,
		"signet_credential_expiry_seconds":                       false,
		"signet_token_server_request_duration_seconds_histogram": false,
	} {
		if got := known(name); got != want {
			t.Errorf("registered(%s) = %v, want %v", name, got, want)
		}
	}
}

type nopLedger struct{}

func (nopLedger) UseAssertion(context.Context, string, string, time.Time) (bool, error) {
	return true, nil
}

func (nopLedger) Revoke(context.Context, string, string, time.Time, time.Time) error { return nil }

type nopSource struct{}

func (nopSource) Synced() bool { return true }

func (nopSource) Connection() (bool, time.Time, time.Time) { return true, time.Time{}, time.Time{} }
