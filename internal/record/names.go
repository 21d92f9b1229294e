package record

import (
	"strings"

	"github.com/signet-iam/signet/internal/credential"
)

// Labels and annotations Signet puts on the objects it owns. Caches select
// on LabelComponent, so only Signet's own Secrets are held in memory.
const (
	// LabelManagedBy is set to ManagedBy on every object Signet writes.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedBy is the value of LabelManagedBy.
	ManagedBy = "signet"

	// LabelComponent says what an object is, with one of the Component values.
	LabelComponent = "iam.signet.dev/component"

	// ComponentWorkloadSecret marks a workload Secret in a tenant namespace.
	ComponentWorkloadSecret = "workload-secret"
	// ComponentCredentialRecord marks a credential record.
	ComponentCredentialRecord = "credential-record"
	// ComponentSigningKeys marks the signing key set.
	ComponentSigningKeys = "signing-keys"
	// ComponentHashKey marks the hash keyring.
	ComponentHashKey = "hash-key"
	// ComponentRevokedToken marks a token revoked through RFC 7009; written by
	// the token server.
	ComponentRevokedToken = "revoked-token"
	// ComponentUsedAssertion marks a client assertion jti already used;
	// written by the token server.
	ComponentUsedAssertion = "used-assertion"

	// LabelClientID is set on a credential record to its client_id.
	LabelClientID = "iam.signet.dev/client-id"
	// LabelNamespace and LabelCredential name the ClientCredential a record
	// or workload Secret belongs to.
	LabelNamespace = "iam.signet.dev/namespace"
	// LabelCredential is the ClientCredential's name.
	LabelCredential = "iam.signet.dev/credential"
	// LabelServiceAccount is the ServiceAccount's name.
	LabelServiceAccount = "iam.signet.dev/service-account"
	// LabelCredentialUID is set on a credential record to the UID of the
	// ClientCredential it was compiled for, so that a credential finds a
	// record it adopted even when the record's content is unreadable.
	LabelCredentialUID = "iam.signet.dev/credential-uid"
	// LabelHandover is "true" on a credential record waiting, after its
	// ClientCredential was deleted with continuity requested, for a
	// re-created one to adopt it.
	LabelHandover = "iam.signet.dev/handover"

	// AnnotationExpiresAt on a token-server object (revoked token, used
	// assertion) says when it may be garbage collected, in RFC 3339.
	AnnotationExpiresAt = "iam.signet.dev/expires-at"
)

// Names of the singleton Secrets in the Signet namespace.
const (
	// SigningKeysSecretName holds the signing key set.
	SigningKeysSecretName = "signet-signing-keys"
	// HashKeySecretName holds the hash keyring.
	HashKeySecretName = "signet-hash-key"
)

// Data keys inside the Secrets.
const (
	// RecordKey holds a credential record as JSON.
	RecordKey = "record.json"
	// KeysKey holds a key set (signing or hash) as JSON.
	KeysKey = "keys.json"
)

// SecretName is the name of the credential record Secret of a client.
func SecretName(clientID string) string {
	return "signet-client-" + strings.TrimPrefix(clientID, credential.ClientIDPrefix)
}

// WorkloadLabels are the labels every credential record and workload Secret
// of one ClientCredential carry.
func WorkloadLabels(component, namespace, credentialName, serviceAccount string) map[string]string {
	return map[string]string{
		LabelManagedBy:      ManagedBy,
		LabelComponent:      component,
		LabelNamespace:      namespace,
		LabelCredential:     credentialName,
		LabelServiceAccount: serviceAccount,
	}
}
