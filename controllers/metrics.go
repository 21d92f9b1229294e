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

	signingKeyRotations = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "signet_signing_key_rotations_total",
		Help: "Signing keys created (bootstrap and rotation).",
	})
)

func init() {
	metrics.Registry.MustRegister(credentialExpiry, credentialRotations, reconcileErrors, signingKeyRotations)
}
