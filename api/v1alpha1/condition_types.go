package v1alpha1

// Condition types shared by the three kinds. Ready follows the usual
// Kubernetes polarity; the others are "abnormal-true": they are present only
// while True, so that kstatus (and therefore Flux and Argo CD) read health
// without custom code.
const (
	// ReadyCondition is always present once the object has been reconciled.
	// True means the object is fully in force: for a ClientCredential, its
	// workload Secret and credential record are written and the token server
	// accepts it.
	ReadyCondition = "Ready"

	// ReconcilingCondition is present only while True: the controller is
	// working towards the desired state (for example waiting for signing keys).
	ReconcilingCondition = "Reconciling"

	// StalledCondition is present only while True: the controller cannot make
	// progress until a person changes something (for example a Secret name
	// already claimed by another ClientCredential). kstatus reports Failed.
	StalledCondition = "Stalled"

	// ExpiringSoonCondition is present only while True, on a ClientCredential
	// whose current secret expires within the warning window (a third of its
	// validity, at most seven days).
	ExpiringSoonCondition = "ExpiringSoon"

	// PreviousSecretInUseCondition is present only while True, on a
	// ClientCredential whose previous secret, still in grace, was used since
	// the rotation within the last unusedFor: a consumer has not moved to the
	// new secret yet. Its message names the last source address and time.
	PreviousSecretInUseCondition = "PreviousSecretInUse"

	// PropagatedCondition is True once every live token-server replica has
	// applied the object's current generation (its observedGeneration);
	// False says how many have. See docs/revocation.md.
	PropagatedCondition = "Propagated"
)

// Reasons used in conditions and Events. CamelCase, stable: alerts and
// dashboards match on them.
const (
	// ReadyReason: everything is in force.
	ReadyReason = "Ready"
	// ProgressingReason: work is under way and no error has occurred.
	ProgressingReason = "Progressing"
	// ReconcileErrorReason: a transient error; the controller retries with backoff.
	ReconcileErrorReason = "ReconcileError"

	// DisabledReason: the ServiceAccount has spec.disabled set.
	DisabledReason = "Disabled"
	// ExpiredReason: the object's validity has ended.
	ExpiredReason = "Expired"
	// ExpiringSoonReason: the current secret expires within the warning window.
	ExpiringSoonReason = "ExpiringSoon"
	// RevokedReason: the ClientCredential has spec.revoked set.
	RevokedReason = "Revoked"

	// ServiceAccountNotFoundReason: the named ServiceAccount does not exist.
	ServiceAccountNotFoundReason = "ServiceAccountNotFound"
	// ServiceAccountNotReadyReason: the named ServiceAccount is disabled or expired.
	ServiceAccountNotReadyReason = "ServiceAccountNotReady"
	// SubjectsMissingReason: an AccessRule names ServiceAccounts that do not exist.
	SubjectsMissingReason = "SubjectsMissing"

	// SecretNameConflictReason: another ClientCredential already owns the
	// workload Secret name. The first claimant keeps it.
	SecretNameConflictReason = "SecretNameConflict"
	// SecretNotOwnedReason: a Secret with the workload Secret's name exists
	// but was not created by Signet; Signet will not overwrite it.
	SecretNotOwnedReason = "SecretNotOwned"
	// InvalidPublicKeysReason: spec.publicKeys could not be parsed or holds a
	// key type Signet does not accept.
	InvalidPublicKeysReason = "InvalidPublicKeys"
	// InvalidClaimsReason: spec.federation.claims does not compile, or is
	// not a boolean expression.
	InvalidClaimsReason = "InvalidClaims"
	// KeysNotReadyReason: the hash key or signing keys are not yet available.
	KeysNotReadyReason = "KeysNotReady"

	// InUseReason: the previous secret is still used, and the grace period
	// has time left.
	InUseReason = "InUse"
	// DeadlineNearReason (Warning): the previous secret is still used and
	// its grace period ends within the warning window: the consumer breaks
	// at the deadline unless it moves to the new secret.
	DeadlineNearReason = "DeadlineNear"

	// PropagatedReason: every live token-server replica applied the change.
	PropagatedReason = "Propagated"
	// PropagatingReason: some live replicas have not yet applied it.
	PropagatingReason = "Propagating"
	// RecordPendingReason: the credential record does not hold the current
	// generation yet.
	RecordPendingReason = "RecordPending"
	// NoReplicasReason: no token-server replica is reporting.
	NoReplicasReason = "NoReplicas"
)

// Event reasons that are not also condition reasons.
const (
	// IssuedReason: a new secret or key pair was generated and written.
	IssuedReason = "Issued"
	// RotatedReason: the secret was replaced on schedule or on request.
	RotatedReason = "Rotated"
	// RepairedReason: the workload Secret was edited or deleted and was restored.
	RepairedReason = "Repaired"
	// RestartedReason: a rollout restart target was restarted after a rotation.
	RestartedReason = "Restarted"
	// GraceEndedReason: the previous secret stopped being accepted at the
	// end of its grace period.
	GraceEndedReason = "GraceEnded"
	// UnusedReason: the previous secret retired before the end of its grace
	// period, because every rollout restart target had rolled out and no
	// token-server replica saw it used for unusedFor (policy WhenUnused).
	UnusedReason = "Unused"
	// ReissuedReason: the secret in the workload Secret was issued before the
	// credential's not-before (its account or credential was replaced by
	// another of the same name, or its record was rebuilt), so it is refused
	// and a new one was written.
	ReissuedReason = "Reissued"
	// RecordRebuiltReason (Warning): the credential record was missing,
	// unreadable, of an unknown version or for another object. It was rebuilt
	// fail-closed: every earlier secret and token is invalid.
	RecordRebuiltReason = "RecordRebuilt"
	// ContinuedReason: a credential created with the continuity annotation
	// adopted the client_id, record and secret a deleted credential of the
	// same name handed over.
	ContinuedReason = "Continued"
	// HandedOverReason: a credential deleted with the continuity annotation
	// left its record suspended for a re-created one to adopt.
	HandedOverReason = "HandedOver"
	// ContinuityRefusedReason (Warning): the continuity annotation asked to
	// adopt a handed-over record that this credential may not adopt; it is
	// a new identity.
	ContinuityRefusedReason = "ContinuityRefused"
)
