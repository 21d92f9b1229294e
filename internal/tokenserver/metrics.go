package tokenserver

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/signet-iam/signet/internal/tokenserver/index"
)

// metrics are labelled only by fixed vocabularies (endpoint, grant,
// reason, code), never by request data: no client_id, and no secret can
// ever become a label.
type metrics struct {
	issued   *prometheus.CounterVec
	failures *prometheus.CounterVec
	limited  *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(idx *index.Index, src Source) (*prometheus.Registry, *metrics) {
	const ns = "signet_token_server"
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "tokens_issued_total", Help: "Access tokens issued, by grant.",
		}, []string{"grant"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "failures_total", Help: "Refused requests, by endpoint and reason.",
		}, []string{"endpoint", "reason"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Name: "rate_limited_total", Help: "Requests refused with 429 after too many failed authentications.",
		}, []string{"endpoint"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "request_duration_seconds", Help: "Time to answer a request, by endpoint and HTTP status.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"endpoint", "code"}),
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.issued, m.failures, m.limited, m.latency,
	)
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: ns, Name: name, Help: help}, f))
	}
	gauge("index_records", "Credential records in the index.", func() float64 { return float64(idx.Stats().Records) })
	gauge("index_revoked_tokens", "Revoked access tokens held in the index.", func() float64 { return float64(idx.Stats().Revoked) })
	gauge("index_synced", "1 once the first read of the namespace completed.", func() float64 { return boolFloat(src.Synced()) })
	gauge("apiserver_connected", "1 while the API server is reachable; 0 while serving from the cached index.", func() float64 {
		ok, _, _ := src.Connection()
		return boolFloat(ok)
	})
	gauge("apiserver_last_contact_timestamp_seconds", "When the API server last answered, in Unix seconds.", func() float64 {
		_, _, last := src.Connection()
		if last.IsZero() {
			return 0
		}
		return float64(last.UnixNano()) / float64(time.Second)
	})
	return reg, m
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry})
}
