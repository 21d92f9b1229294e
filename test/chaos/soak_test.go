//go:build chaos

package chaos

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

var (
	soakFor      = flag.Duration("soak.duration", 0, "How long the soak runs; 0 skips it (make soak sets it).")
	soakOut      = flag.String("soak.out", "", "Directory receiving soak.csv and soak.png; default a temporary one.")
	soakFraction = flag.Float64("soak.fraction", 0.5, "Fraction of the measured maximum load the soak runs at.")
	soakWarmup   = flag.Duration("soak.warmup", 5*time.Minute, "Warm-up before memory and goroutines must stay flat.")
	soakSample   = flag.Duration("soak.sample", 10*time.Second, "Interval between samples.")
)

// The processes a soak samples, with the metrics endpoint of each.
func soakTargets() (names, urls []string) {
	for i, base := range replicas {
		names, urls = append(names, fmt.Sprintf("token-server-%d", i+1)), append(urls, base+"/metrics")
	}
	for i, u := range signet.ManagerMetricsURLs {
		names, urls = append(names, fmt.Sprintf("manager-%d", i+1)), append(urls, u)
	}
	return names, urls
}

// TestSoak measures the load the token servers sustain (every worker as
// fast as it can for 30 s), then runs at -soak.fraction of it for
// -soak.duration. No request may fail, and after the warm-up the resident
// memory and goroutines of every process must stay flat: the mean of the
// last minute at most 10% above the mean of the minute after the warm-up.
// Samples go to soak.csv, plotted into soak.png with gnuplot when it is
// installed.
func TestSoak(t *testing.T) {
	if *soakFor == 0 {
		t.Skip("the soak runs with -soak.duration, from make soak")
	}
	f := newLoadFixture(t, 8)
	probe := startLoad(t, f, true)
	const measure = 30 * time.Second
	time.Sleep(measure) // the measurement window
	peak := float64(probe.tokens()) / measure.Seconds()
	probe.check(t)
	rps := peak * *soakFraction
	result(t, "maximum %.0f token+verify+introspection rounds/s with %d workers; soaking at %.0f/s for %v", peak, *workers, rps, *soakFor)

	l := startPacedLoad(t, f, true, rate.NewLimiter(rate.Limit(rps), 1))
	names, urls := soakTargets()
	header := []string{"seconds", "rounds", "failed"}
	for _, n := range names {
		header = append(header, n+"_rss_mb", n+"_goroutines")
	}
	rows := [][]float64{}
	start := time.Now()
	for tick := time.NewTicker(*soakSample); time.Since(start) < *soakFor; <-tick.C {
		row := []float64{time.Since(start).Seconds(), float64(l.tokens()), float64(l.failed())}
		for _, u := range urls {
			m := scrape(u)
			row = append(row, m["process_resident_memory_bytes"]/(1<<20), m["go_goroutines"])
		}
		rows = append(rows, row)
	}
	l.check(t)
	dir := *soakOut
	if dir == "" {
		dir = t.TempDir()
	}
	csvPath := filepath.Join(dir, "soak.csv")
	if err := writeCSV(csvPath, header, rows); err != nil {
		t.Fatal(err)
	}
	plot(t, csvPath, filepath.Join(dir, "soak.png"), names)
	for c := 3; c < len(header); c++ {
		warm, end := soakWarmup.Seconds(), rows[len(rows)-1][0]
		early, late := window(rows, c, warm, warm+60), window(rows, c, end-60, end)
		growth := (late - early) / early * 100
		result(t, "%s: %.1f after warm-up, %.1f at the end (%+.1f%%)", header[c], early, late, growth)
		if growth >= 10 {
			t.Errorf("%s grew %.1f%% from the warm-up to the end, want under 10%%", header[c], growth)
		}
	}
}

// window returns the mean of column c over the samples taken from..to
// seconds after the start.
func window(rows [][]float64, c int, from, to float64) float64 {
	sum, n := 0.0, 0
	for _, r := range rows {
		if r[0] >= from && r[0] <= to {
			sum += r[c]
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// scrape reads the unlabelled gauges of a Prometheus text endpoint.
func scrape(url string) map[string]float64 {
	out := map[string]float64{}
	hc := &http.Client{Timeout: 5 * time.Second}
	resp, err := hc.Get(url)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out
}

func writeCSV(path string, header []string, rows [][]float64) error {
	var b strings.Builder
	b.WriteString(strings.Join(header, ",") + "\n")
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, v := range r {
			cells[i] = strconv.FormatFloat(v, 'f', 1, 64)
		}
		b.WriteString(strings.Join(cells, ",") + "\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// plot renders the samples with gnuplot: resident memory above, goroutines
// below, against minutes.
func plot(t *testing.T, csvPath, pngPath string, names []string) {
	t.Helper()
	if _, err := exec.LookPath("gnuplot"); err != nil {
		t.Logf("gnuplot is not installed (apt-get install gnuplot-nox); %s not rendered", pngPath)
		return
	}
	var rss, gr []string
	for i, n := range names {
		rss = append(rss, fmt.Sprintf("'%s' using ($1/60):%d with lines title '%s'", csvPath, 4+2*i, n))
		gr = append(gr, fmt.Sprintf("'%s' using ($1/60):%d with lines title '%s'", csvPath, 5+2*i, n))
	}
	script := strings.Join([]string{
		"set datafile separator ','",
		"set terminal pngcairo size 1000,700",
		"set output '" + pngPath + "'",
		"set multiplot layout 2,1 title 'Signet soak at " + strconv.Itoa(int(*soakFraction*100)) + "% of the measured maximum load'",
		"set key outside right", "set grid",
		"set ylabel 'RSS (MiB)'", "set yrange [0:*]",
		"plot " + strings.Join(rss, ", "),
		"set xlabel 'minutes'", "set ylabel 'goroutines'",
		"plot " + strings.Join(gr, ", "),
		"unset multiplot",
	}, "\n")
	cmd := exec.Command("gnuplot")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("gnuplot: %v\n%s", err, out)
	}
}
