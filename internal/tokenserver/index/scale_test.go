package index_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/index"
)

// indexSizes are the record counts BenchmarkIndexScale builds. The default
// stays small so that "go test -bench ." over the token server stays quick;
// make bench-index sets SIGNET_INDEX_SIZES=1000,10000,100000,1000000.
func indexSizes(b *testing.B) []int {
	spec := os.Getenv("SIGNET_INDEX_SIZES")
	if spec == "" {
		spec = "1000,10000"
	}
	var sizes []int
	for f := range strings.SplitSeq(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("SIGNET_INDEX_SIZES: %q is not a positive count", f)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// scaleIndex is an index of n synthetic ClientSecret records, shaped as
// the manager writes them (two scopes, one audience, one keyed hash), with
// the plaintext secrets kept aside to authenticate with.
type scaleIndex struct {
	idx     *index.Index
	auth    *clientauth.Authenticator
	ids     []string
	secrets []string
	// bytesPerRecord is the heap the index holds per record, measured
	// after a full collection with the Secrets it was built from gone.
	bytesPerRecord float64
	buildTime      time.Duration
}

func buildScaleIndex(b *testing.B, n int) *scaleIndex {
	b.Helper()
	fx, err := fixture.New("signet-system", signing.ES256, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	// Generate every client first, so that the baseline below already
	// holds the ids, secrets and encoded records the benchmark keeps, and
	// the difference is the index alone.
	s := &scaleIndex{ids: make([]string, n), secrets: make([]string, n)}
	data := make([][]byte, n)
	for i := range n {
		c, err := fx.NewClient(record.TypeClientSecret, fmt.Sprintf("app-%07d", i),
			[]string{"orders:read", "orders:write"}, []string{"https://orders.example.com"})
		if err != nil {
			b.Fatal(err)
		}
		c.Record.Namespace = fmt.Sprintf("tenant-%04d", i%1000)
		s.ids[i], s.secrets[i] = c.ID(), c.Secret
		sec, err := fx.RecordSecret(c)
		if err != nil {
			b.Fatal(err)
		}
		data[i] = sec.Data[record.RecordKey]
	}
	hashKey, err := fx.HashKeySecret()
	if err != nil {
		b.Fatal(err)
	}
	before := liveHeap()
	start := time.Now()
	idx := index.New()
	if err := idx.ApplySecret(hashKey); err != nil {
		b.Fatal(err)
	}
	for i := range n {
		sec, err := fx.RecordSecret(&fixture.Client{Record: &record.Record{ClientID: s.ids[i]}})
		if err != nil {
			b.Fatal(err)
		}
		sec.Data[record.RecordKey] = data[i]
		if err := idx.ApplySecret(sec); err != nil {
			b.Fatal(err)
		}
	}
	s.buildTime = time.Since(start)
	// data is still live here, as it was for the baseline: the index
	// copies what it keeps out of it.
	s.bytesPerRecord = float64(liveHeap()-before) / float64(n)
	runtime.KeepAlive(data)
	s.idx = idx
	s.auth = &clientauth.Authenticator{Index: idx, Now: time.Now}
	return s
}

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// BenchmarkIndexScale measures the token server's index at 1,000 to
// 1,000,000 records (targets: at most 2 KB of memory per record; lookup
// cost flat from 1k to 1M). For each size it reports bytes/record and the
// cost of:
//   - lookup: finding a record by client_id, a random one each time;
//   - authenticate: a whole client_secret_basic authentication (lookup,
//     checks, keyed hash, constant-time compare) of a random client.
func BenchmarkIndexScale(b *testing.B) {
	for _, n := range indexSizes(b) {
		s := buildScaleIndex(b, n)
		batch := newBatch(s)
		b.Run(fmt.Sprintf("records=%d/lookup", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				if i%len(batch.ids) == 0 {
					b.StopTimer()
					batch.refill()
					b.StartTimer()
				}
				if s.idx.Record(batch.ids[i%len(batch.ids)]) == nil {
					b.Fatal("missing record")
				}
				i++
			}
			// After the loop: b.Loop's first call resets reported metrics.
			b.ReportMetric(s.bytesPerRecord, "B/record")
			b.ReportMetric(s.buildTime.Seconds(), "s-to-build")
		})
		b.Run(fmt.Sprintf("records=%d/authenticate", n), func(b *testing.B) {
			ctx := context.Background()
			i := 0
			for b.Loop() {
				k := i % len(batch.ids)
				if k == 0 {
					b.StopTimer()
					batch.refill()
					b.StartTimer()
				}
				creds := clientauth.Credentials{Method: clientauth.MethodBasic, ClientID: batch.ids[k], Secret: batch.secrets[k]}
				if _, f := s.auth.Authenticate(ctx, creds); f != nil {
					b.Fatal(f.Reason)
				}
				i++
			}
		})
		s, batch = nil, nil
		runtime.KeepAlive(s)
		runtime.GC()
	}
}

// batch is the next requests' credentials: random clients, copied into
// fresh memory as a request's bytes would be. The lookups then pay for the
// index's own cache misses, not for fetching the key from a table the size
// of the index.
type batch struct {
	from         *scaleIndex
	ids, secrets []string
}

func newBatch(s *scaleIndex) *batch {
	return &batch{from: s, ids: make([]string, 4096), secrets: make([]string, 4096)}
}

func (b *batch) refill() {
	for i := range b.ids {
		k := rand.IntN(len(b.from.ids))
		b.ids[i], b.secrets[i] = strings.Clone(b.from.ids[k]), strings.Clone(b.from.secrets[k])
	}
}
