//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// skipMarker, on the line before a shell block, keeps the docs test from
// running it; the reason is required: <!-- docs-test: skip (reason) -->.
var skipMarker = regexp.MustCompile(`^<!-- docs-test: skip \((.+)\) -->$`)

// shellBlock is a fenced sh or bash block of a Markdown page.
type shellBlock struct {
	line int
	code string
}

// shellBlocks returns the blocks of a page a reader is meant to run, in
// order: every ```sh, ```bash or ```shell fence not preceded by a skip
// marker. Fences may be indented (inside list items); the indentation of
// the opening fence is removed from each line.
func shellBlocks(t *testing.T, path string) []shellBlock {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		blocks      []shellBlock
		cur         *shellBlock
		indent      string
		prev        string
		skip        bool
		lineNo      int
		insideOther bool
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur != nil && trimmed == "```":
			if !skip {
				blocks = append(blocks, *cur)
			}
			cur = nil
		case cur != nil:
			cur.code += strings.TrimPrefix(line, indent) + "\n"
		case insideOther && trimmed == "```":
			insideOther = false
		case insideOther:
		case strings.HasPrefix(trimmed, "```"):
			lang := strings.TrimPrefix(trimmed, "```")
			if lang == "sh" || lang == "bash" || lang == "shell" {
				indent = line[:len(line)-len(strings.TrimLeft(line, " \t"))]
				cur = &shellBlock{line: lineNo}
				m := skipMarker.FindStringSubmatch(strings.TrimSpace(prev))
				skip = m != nil
				if strings.Contains(prev, "docs-test") && m == nil {
					t.Errorf("%s:%d: malformed docs-test marker %q; write <!-- docs-test: skip (reason) -->", path, lineNo-1, prev)
				}
			} else {
				insideOther = true
			}
		}
		if trimmed != "" {
			prev = line
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Fatalf("%s:%d: unterminated code block", path, cur.line)
	}
	return blocks
}

// TestDocsRunAsWritten runs every shell block of README.md and
// docs/howto/*.md with bash, as written, against the real manager and token
// server: each page in a fresh namespace where the samples are applied and
// Ready (what "make dev" gives a reader), its blocks in order in one bash
// process so that later blocks see the variables earlier ones set, and any
// failing command fails the test. A page that drifts from the product
// fails here.
func TestDocsRunAsWritten(t *testing.T) {
	pages, err := filepath.Glob(filepath.Join(root, "docs", "howto", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	pages = append([]string{filepath.Join(root, "README.md")}, pages...)
	ran := 0
	for _, page := range pages {
		rel, _ := filepath.Rel(root, page)
		blocks := shellBlocks(t, page)
		if len(blocks) == 0 {
			continue
		}
		ran++
		t.Run(rel, func(t *testing.T) { runPage(t, rel, blocks) })
	}
	if ran < 6 {
		t.Errorf("ran the shell blocks of %d pages; want the README and the five how-tos", ran)
	}
}

func runPage(t *testing.T, page string, blocks []shellBlock) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "docs-"}}
	if err := signet.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dump(t, ns.Name)
		}
	})
	kubectl(t, "apply", "-n", ns.Name, "-k", filepath.Join(root, "config", "samples"))
	samplesServe(t, ns.Name)

	dir := sandbox(t, ns.Name)
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, b := range blocks {
		fmt.Fprintf(&script, "echo '>>> %s:%d' >&2\n%s", page, b.line, b.code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = docsEnv(t)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s: %d blocks in %v", page, len(blocks), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("%s does not run as written (%v); the last '>>>' line names the failing block:\n%s", page, err, out)
	}
}

// sandbox returns a directory that looks like the repository root to the
// page's commands: every entry of the root is linked, except that
// bin/dev/kubeconfig, which "make dev" writes, points at this test's
// control plane with the page's namespace as the default.
func sandbox(t *testing.T, namespace string) string {
	t.Helper()
	dir := t.TempDir()
	link := func(from, to string) {
		if err := os.Symlink(from, to); err != nil {
			t.Fatal(err)
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "bin" {
			link(filepath.Join(root, e.Name()), filepath.Join(dir, e.Name()))
		}
	}
	bins, err := os.ReadDir(filepath.Join(root, "bin"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "bin", "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range bins {
		if e.Name() != "dev" {
			link(filepath.Join(root, "bin", e.Name()), filepath.Join(dir, "bin", e.Name()))
		}
	}
	cfg, err := clientcmd.LoadFromFile(signet.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Contexts[cfg.CurrentContext].Namespace = namespace
	if err := clientcmd.WriteToFile(*cfg, filepath.Join(dir, "bin", "dev", "kubeconfig")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// docsEnv is the test's environment without a KUBECONFIG (the pages set
// their own), with a kubectl discovery cache of its own: an earlier API
// server may have used this port.
func docsEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") && !strings.HasPrefix(kv, "KUBECACHEDIR=") {
			env = append(env, kv)
		}
	}
	return append(env, "KUBECACHEDIR="+t.TempDir())
}

// samplesServe waits, as "make dev" does before it prints its first
// commands, until every sample credential in ns is Ready and its secret is
// accepted by the token server.
func samplesServe(t *testing.T, ns string) {
	t.Helper()
	kubectl(t, "wait", "-n", ns, "clientcredentials", "--all", "--for=condition=Ready", "--timeout=60s")
	secrets := &corev1.SecretList{}
	if err := signet.Client.List(context.Background(), secrets, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, s := range secrets.Items {
		data := map[string]string{}
		for k, v := range s.Data {
			data[k] = string(v)
		}
		switch {
		case data["client_secret"] != "":
			waitFor(t, 10*time.Second, "sample "+s.Name+" serves tokens", func() error { _, err := tokenFor(data); return err })
		case data["api_key"] != "":
			waitFor(t, 10*time.Second, "sample "+s.Name+" serves tokens", func() error {
				status, body, err := postForm(url.Values{"grant_type": {apiKeyGrant}, "apikey": {data["api_key"]}})
				if err != nil {
					return err
				}
				if status != 200 {
					return fmt.Errorf("HTTP %d %v", status, body)
				}
				return nil
			})
		}
	}
}

// TestManagerMetricsOnLoopback: "make dev" serves the manager's metrics,
// which docs/operations.md describes, as plain HTTP on loopback.
func TestManagerMetricsOnLoopback(t *testing.T) {
	if !strings.HasPrefix(signet.ManagerMetricsURL, "http://127.0.0.1:") {
		t.Fatalf("manager metrics at %q, want plain HTTP on 127.0.0.1", signet.ManagerMetricsURL)
	}
	var body string
	waitFor(t, 30*time.Second, "manager metrics", func() error {
		resp, err := http.Get(signet.ManagerMetricsURL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		body = string(data)
		return nil
	})
	if !strings.Contains(body, "controller_runtime_reconcile_total") {
		t.Errorf("the manager's metrics lack controller_runtime_reconcile_total:\n%.2000s", body)
	}
}
