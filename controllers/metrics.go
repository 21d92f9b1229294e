package controllers

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics label credentials by namespace and name only: never by anything
// derived from a secret.
var (
	credentialExpiry = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "signet_credential_expiration_timestamp_seconds",
		Help: "When the current secret of a ClientCredential expires, as a Unix timestamp. Absent when it does not expire.",
	}, []string{"namespace", "name", "type"})

	credentialRotations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_credential_rotations_total",
		Help: "Secrets issued by ClientCredentials, by reason: Issued (first), Rotated (schedule or trigger), Repaired (workload Secret edited or deleted).",
	}, []string{"namespace", "reason"})

	reconcileErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "signet_reconcile_errors_total",
		Help: "Reconciles that ended in an error, by controller.",
	}, []string{"controller"})

	propagationSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "signet_propagation_seconds",
		Help: "Time from a ClientCredential or ServiceAccount spec change (when the manager first saw the generation) to the last token-server replica's acknowledgement, by kind.",
		// From a few milliseconds (one watch hop) to the report timeout
		// and beyond (a replica that stalled and came back).
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"kind"})

	signingKeyRotations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "signet_signing_key_rotations_total",
		Help: "Signing keys created (bootstrap and rotation).",
	})
)

func init() {
	metrics.Registry.MustRegister(credentialExpiry, credentialRotations, reconcileErrors, signingKeyRotations, propagationSeconds)
}
