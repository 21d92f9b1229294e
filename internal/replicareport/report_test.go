package replicareport

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestLeaseRoundTrip(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	in := Report{
		Replica: "signet-token-server-7d9c-abcde", AppliedVersion: "12345", RenewTime: now, Timeout: 15 * time.Second,
		Uses: map[string]Use{
			"sgc_a": {At: now.Add(-time.Minute), Address: "10.0.0.7"},
			"sgc_b": {At: now, Address: "fd00::1"},
		},
	}
	l := in.Lease("signet-system")
	if errs := validation.IsDNS1123Subdomain(l.Name); len(errs) > 0 {
		t.Fatalf("lease name %q: %v", l.Name, errs)
	}
	out, err := Decode(l)
	if err != nil {
		t.Fatal(err)
	}
	if out.Replica != in.Replica || out.AppliedVersion != "12345" || !out.RenewTime.Equal(now) || out.Timeout != in.Timeout || out.Truncated {
		t.Fatalf("decoded %+v from %+v", out, in)
	}
	if len(out.Uses) != 2 || out.Uses["sgc_b"].Address != "fd00::1" || !out.Uses["sgc_a"].At.Equal(now.Add(-time.Minute)) {
		t.Fatalf("uses %+v", out.Uses)
	}
	if lines := strings.Split(l.Annotations[AnnotationUses], "\n"); !strings.HasPrefix(lines[0], "sgc_b ") {
		t.Fatalf("the most recent use is not first: %q", lines)
	}
}

func TestLiveAndApplied(t *testing.T) {
	now := time.Now()
	r := Report{AppliedVersion: "100", RenewTime: now, Timeout: 15 * time.Second}
	for _, c := range []struct {
		version string
		want    bool
	}{{"99", true}, {"100", true}, {"101", false}, {"1000", false}, {"", false}, {"x", false}} {
		if got := r.Applied(c.version); got != c.want {
			t.Errorf("Applied(%q) at 100 = %v", c.version, got)
		}
	}
	if (&Report{}).Applied("1") {
		t.Error("a report with no applied version claims one")
	}
	if !r.Live(now.Add(14*time.Second)) || r.Live(now.Add(15*time.Second)) {
		t.Error("a report counts exactly until renewTime + timeout")
	}
}

func TestLeaseNameIsShortened(t *testing.T) {
	long := strings.Repeat("a", 80)
	a, b := LeaseName(long), LeaseName(long+"b")
	if len(a) > 63 || a == b {
		t.Fatalf("names %q and %q", a, b)
	}
	if errs := validation.IsDNS1123Label(a); len(errs) > 0 {
		t.Fatal(errs)
	}
}

// TestUsesAreBounded: more than MaxUses uses keep the most recent ones
// and say the list was truncated; a line that does not parse marks a
// decoded report truncated, so a reader errs towards "in use".
func TestUsesAreBounded(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	uses := map[string]Use{}
	for i := range MaxUses + 10 {
		uses[fmt.Sprintf("sgc_%04d", i)] = Use{At: now.Add(time.Duration(i) * time.Second), Address: strings.Repeat("f", 200)}
	}
	lines, truncated := EncodeUses(uses)
	if !truncated || strings.Count(lines, "\n") != MaxUses || len(lines) > MaxAnnotationBytes {
		t.Fatalf("truncated %v, %d lines, %d bytes", truncated, strings.Count(lines, "\n"), len(lines))
	}
	if strings.Contains(lines, "sgc_0000 ") || !strings.HasPrefix(lines, fmt.Sprintf("sgc_%04d ", MaxUses+9)) {
		t.Fatal("not the most recent uses kept")
	}
	l := (&Report{Replica: "r", Timeout: time.Second}).Lease("ns")
	l.Annotations[AnnotationUses] = "sgc_a 17 10.0.0.1\ngarbage\n"
	r, err := Decode(l)
	if err != nil || !r.Truncated || len(r.Uses) != 1 {
		t.Fatalf("decoded %+v, %v", r, err)
	}
}
