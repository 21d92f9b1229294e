package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CredentialType selects how a client authenticates at the token endpoint:
// ClientSecret, APIKey, PrivateKeyJWT or Federated. The field that holds it checks the
// value with a CEL rule rather than an enum, so that a refusal never echoes
// what was submitted (see docs/design/0011-validation-messages.md).
type CredentialType string

const (
	// ClientSecretType: a client_id and client_secret for the OAuth2
	// client_credentials grant, sent with client_secret_basic or
	// client_secret_post.
	ClientSecretType CredentialType = "ClientSecret"
	// APIKeyType: one key string exchanged at the token endpoint with the
	// API-key grant type.
	APIKeyType CredentialType = "APIKey"
	// PrivateKeyJWTType: the client signs an RFC 7523 assertion with a
	// private key; Signet holds only the public key.
	PrivateKeyJWTType CredentialType = "PrivateKeyJWT"
	// FederatedType: the client authenticates with a token it already has,
	// signed by an OIDC issuer the credential trusts (a pod's projected
	// ServiceAccount token, a CI job's OIDC token). Signet generates and
	// stores no secret for it.
	FederatedType CredentialType = "Federated"
)

// Federation says which tokens of which issuer a Federated credential
// accepts in place of a secret (docs/design/0027-workload-identity-federation.md).
// +kubebuilder:validation:XValidation:rule=`has(self.issuer) || self.subject.matches('^system:serviceaccount:[a-z0-9]([-a-z0-9]*[a-z0-9])?:[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,message="federation.subject must be system:serviceaccount:<namespace>:<name> when federation.issuer is unset (this cluster's ServiceAccount tokens), with the credential's own namespace",fieldPath=".subject",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule="!has(self.jwksURL) || has(self.issuer)",message="federation.jwksURL needs federation.issuer: this cluster's own keys are found through the API server",fieldPath=".jwksURL",reason=FieldValueForbidden
type Federation struct {
	// issuer is the OIDC issuer that signs the workload's token, exactly as
	// its tokens' iss claim spells it, for example
	// https://token.actions.githubusercontent.com. Unset means this
	// cluster's ServiceAccount issuer, discovered from the API server; a
	// credential may then trust only ServiceAccounts of its own namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule=`self.matches('^https://[^\\s?#]+$') || self.matches('^http://(localhost|127\\.0\\.0\\.1)(:[0-9]+)?(/[^\\s?#]*)?$')`,message="federation.issuer must be an https URL without query or fragment, as the token's iss claim spells it (http only for localhost), for example https://token.actions.githubusercontent.com",reason=FieldValueForbidden
	Issuer string `json:"issuer,omitempty"`

	// subject is the exact sub claim to trust, for example
	// system:serviceaccount:team-a:builder, or
	// repo:acme/api:ref:refs/heads/main for a GitHub Actions job.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Subject string `json:"subject"`

	// audience is the aud the workload's token must carry. Unset means
	// Signet's issuer URL.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule=`!self.matches('\\s')`,message="federation.audience must be one audience without spaces, for example https://signet.example.com",reason=FieldValueForbidden
	Audience string `json:"audience,omitempty"`

	// claims is an optional CEL expression over the token's claims that
	// must be true, for example
	// claims.repository_owner == "acme" && claims.environment == "prod".
	// The manager's admission webhook refuses, when the resource is
	// applied, one that does not compile or is not a boolean; one stored
	// while the webhook was down stalls the credential with reason
	// InvalidClaims, and the token server accepts no token for it.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Claims string `json:"claims,omitempty"`

	// jwksURL is where the issuer publishes its keys, for issuers without
	// OIDC discovery. Unset means the jwks_uri of the issuer's discovery
	// document.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule=`self.matches('^https://[^\\s#]+$') || self.matches('^http://(localhost|127\\.0\\.0\\.1)(:[0-9]+)?(/[^\\s#]*)?$')`,message="federation.jwksURL must be an https URL (http only for localhost), for example https://issuer.example.com/keys",reason=FieldValueForbidden
	JWKSURL string `json:"jwksURL,omitempty"`
}

// DeletionPolicy says what happens to the workload Secret when its
// ClientCredential is deleted.
type DeletionPolicy string

const (
	// DeletePolicy deletes the workload Secret with the ClientCredential.
	DeletePolicy DeletionPolicy = "Delete"
	// OrphanPolicy leaves the workload Secret in place (its secret no longer
	// authenticates: the credential record is always deleted).
	OrphanPolicy DeletionPolicy = "Orphan"
)

// SecretTemplate holds metadata copied onto the workload Secret.
// +kubebuilder:validation:XValidation:rule="!has(self.labels) || self.labels.all(k, !k.startsWith('iam.signet.dev/'))",message="secretTemplate.labels must not use the iam.signet.dev/ prefix, which Signet reserves for its own labels"
// +kubebuilder:validation:XValidation:rule="!has(self.annotations) || self.annotations.all(k, !k.startsWith('iam.signet.dev/'))",message="secretTemplate.annotations must not use the iam.signet.dev/ prefix, which Signet reserves for its own annotations"
type SecretTemplate struct {
	// labels to set on the workload Secret, for example to let a tool select
	// it. Unset means only Signet's own labels.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Labels map[string]string `json:"labels,omitempty"`

	// annotations to set on the workload Secret, for example for a secret
	// replicator or a reloader. Unset means only Signet's own annotations.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Annotations map[string]string `json:"annotations,omitempty"`
}

// RotationSpec controls when the credential's secret is replaced.
// +kubebuilder:validation:XValidation:rule=`!has(self.retirement) || !has(self.retirement.policy) || self.retirement.policy != 'WhenUnused' || !has(self.gracePeriod) || !self.gracePeriod.matches('^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') || (has(self.retirement.unusedFor) && !self.retirement.unusedFor.matches('^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$')) || duration(self.gracePeriod) > (has(self.retirement.unusedFor) ? duration(self.retirement.unusedFor) : duration('5m'))`,message="rotation.retirement.policy WhenUnused can retire the previous secret early only within a gracePeriod longer than unusedFor (default 5m): set rotation.gracePeriod longer, for example 24h, so that the previous secret stays while it is used and retires once it is not",reason=FieldValueForbidden
// +kubebuilder:validation:XValidation:rule=`!has(self.interval) || !has(self.gracePeriod) || !self.interval.matches('^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') || !self.gracePeriod.matches('^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self.gracePeriod) < duration(self.interval)`,message="rotation.gracePeriod must be shorter than rotation.interval, so that the previous secret stops working before the next rotation"
type RotationSpec struct {
	// interval between scheduled rotations, as a Go duration such as "720h"
	// (1h to 17520h). Unset means the secret is rotated only when trigger
	// changes.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule=`self.matches('^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1h') && duration(self) <= duration('17520h')`,message="rotation.interval must be a duration from 1h to 17520h (730 days) in hours, minutes or seconds, for example 720h for 30 days; days (d) are not a unit",reason=FieldValueForbidden
	Interval *metav1.Duration `json:"interval,omitempty"`

	// gracePeriod is how long the previous secret is still accepted after a
	// rotation, so that workloads pick up the new one without downtime.
	// "0s" makes a rotation revoke the previous secret, and the tokens issued
	// with it, at once. At most 168h. Default 5m.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule=`self.matches('^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) <= duration('168h')`,message="rotation.gracePeriod must be a duration from 0s to 168h (7 days), for example 1h, or 0s to stop the previous secret at once; days (d) are not a unit",reason=FieldValueForbidden
	GracePeriod *metav1.Duration `json:"gracePeriod,omitempty"`

	// trigger forces an immediate rotation whenever its value changes, so a
	// GitOps commit can regenerate a secret (set it to a date or a ticket
	// number). Its value means nothing else. Unset means no forced rotation.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Trigger string `json:"trigger,omitempty"`

	// retirement says when the previous secret stops being accepted after a
	// rotation: at the end of gracePeriod (AfterGrace, the default), or as
	// soon as its consumers have moved to the new one (WhenUnused). See
	// docs/rotation.md.
	// +optional
	Retirement *RetirementSpec `json:"retirement,omitempty"`
}

// RetirementPolicy says when a previous secret retires.
type RetirementPolicy string

const (
	// RetireAfterGrace retires the previous secret at the end of the grace
	// period.
	RetireAfterGrace RetirementPolicy = "AfterGrace"
	// RetireWhenUnused retires it once every rollout restart target has
	// rolled out and no token-server replica has seen it used for
	// unusedFor; at the end of the grace period at the latest.
	RetireWhenUnused RetirementPolicy = "WhenUnused"
)

// DefaultUnusedFor is how long a previous secret must go unused before
// WhenUnused retires it, when unusedFor is unset.
const DefaultUnusedFor = 5 * time.Minute

// RetirementSpec is the retirement policy of a previous secret.
// +kubebuilder:validation:XValidation:rule="self.policy == 'WhenUnused' || !has(self.unusedFor)",message="rotation.retirement.unusedFor applies only with policy WhenUnused: remove it, or set policy: WhenUnused",reason=FieldValueForbidden
type RetirementSpec struct {
	// policy is AfterGrace (retire at the end of gracePeriod) or WhenUnused
	// (retire once unused, at the end of gracePeriod at the latest).
	// Default AfterGrace.
	// +optional
	// +kubebuilder:default=AfterGrace
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self in ['AfterGrace', 'WhenUnused']",message="rotation.retirement.policy must be AfterGrace or WhenUnused (the names are case-sensitive)",reason=FieldValueForbidden
	Policy RetirementPolicy `json:"policy,omitempty"`

	// unusedFor is how long no token-server replica may have seen the
	// previous secret used before WhenUnused retires it (1m to 24h).
	// Default 5m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule=`self.matches('^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('24h')`,message="rotation.retirement.unusedFor must be a duration from 1m to 24h, for example 10m; days (d) are not a unit",reason=FieldValueForbidden
	UnusedFor *metav1.Duration `json:"unusedFor,omitempty"`
}

// PublicKeys are the client's own public keys for PrivateKeyJWT, so that its
// private key never reaches the cluster. Exactly one of pem and jwks.
// +kubebuilder:validation:XValidation:rule="has(self.pem) != has(self.jwks)",message="publicKeys needs exactly one of pem or jwks"
type PublicKeys struct {
	// pem holds one or more PEM "PUBLIC KEY" blocks (EC P-256/P-384, Ed25519,
	// or RSA of at least 2048 bits). Each key's algorithm is fixed by its
	// type: ES256, ES384, EdDSA or RS256.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=16384
	// +kubebuilder:validation:XValidation:rule="!self.contains('PRIVATE KEY')",message="publicKeys.pem holds a private key, which must never leave the client: remove it and paste only the public key (openssl pkey -in client.key -pubout); treat the pasted private key as exposed and replace it",reason=FieldValueForbidden
	// +kubebuilder:validation:XValidation:rule="self.contains('PRIVATE KEY') || self.contains('-----BEGIN PUBLIC KEY-----')",message="publicKeys.pem must hold one or more PEM blocks of type PUBLIC KEY (-----BEGIN PUBLIC KEY-----), for example the output of openssl pkey -in client.key -pubout",reason=FieldValueForbidden
	PEM string `json:"pem,omitempty"`

	// jwks is a JSON Web Key Set (RFC 7517) with the client's public keys.
	// Each key needs a "kid" when there is more than one.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=65536
	// +kubebuilder:validation:XValidation:rule="self.startsWith('{') && self.contains('\"keys\"')",message="publicKeys.jwks must be a JSON object with a \"keys\" array of public JWKs, for example {\"keys\":[{\"kty\":\"EC\",...}]}",reason=FieldValueForbidden
	// +kubebuilder:validation:XValidation:rule=`!self.matches('"(d|p|q|dp|dq|qi|k)"\\s*:')`,message="publicKeys.jwks holds private key material (a d, p, q, dp, dq, qi or k member), which must never leave the client: remove it and supply only public JWKs; treat the pasted private key as exposed and replace it",reason=FieldValueForbidden
	JWKS string `json:"jwks,omitempty"`
}

// RolloutRestartTarget names a workload in the ClientCredential's namespace
// that is restarted after each rotation, like "kubectl rollout restart".
type RolloutRestartTarget struct {
	// kind of the workload: Deployment or StatefulSet.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self in ['Deployment', 'StatefulSet']",message="kind must be Deployment or StatefulSet; restart other workloads from a Deployment or by hand",reason=FieldValueForbidden
	Kind string `json:"kind"`

	// name of the workload in this namespace.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,message="name must be the name of a Deployment or StatefulSet in this namespace: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",reason=FieldValueForbidden
	Name string `json:"name"`
}

// ClientCredentialSpec describes one credential of a ServiceAccount.
// +kubebuilder:validation:XValidation:rule="!has(self.publicKeys) || self.type == 'PrivateKeyJWT'",message="publicKeys may be set only when type is PrivateKeyJWT"
// +kubebuilder:validation:XValidation:rule="!has(self.publicKeys) || !has(self.rotation) || !has(self.rotation.interval)",message="rotation.interval applies only to keys Signet generates; with publicKeys, rotate by editing publicKeys"
// +kubebuilder:validation:XValidation:rule=`!has(self.validFor) || !has(self.rotation) || !has(self.rotation.interval) || !self.validFor.matches('^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') || !self.rotation.interval.matches('^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') || duration(self.rotation.interval) < duration(self.validFor)`,message="rotation.interval must be shorter than validFor, or the secret expires before it is rotated"
// +kubebuilder:validation:XValidation:rule="has(self.federation) == (has(self.type) && self.type == 'Federated')",message="federation is required when type is Federated, and allowed only then"
// +kubebuilder:validation:XValidation:rule="!has(self.type) || self.type != 'Federated' || (!has(self.validFor) && (!has(self.rotation) || !has(self.rotation.interval)))",message="validFor and rotation.interval do not apply to type Federated: it has no secret to expire or rotate; the workload's own token expires instead"
// +kubebuilder:validation:XValidation:rule="has(self.secretName) == has(oldSelf.secretName)",message="secretName cannot be added or removed after creation; create a new ClientCredential instead"
type ClientCredentialSpec struct {
	// serviceAccountName is the Signet ServiceAccount, in this namespace,
	// the credential authenticates as. Immutable.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,message="serviceAccountName must be the name of a Signet ServiceAccount in this namespace: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",reason=FieldValueForbidden
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="serviceAccountName is immutable; create a new ClientCredential for another ServiceAccount",reason=FieldValueForbidden
	ServiceAccountName string `json:"serviceAccountName"`

	// type of credential: ClientSecret (client_credentials with a secret),
	// APIKey (the API-key grant), PrivateKeyJWT (RFC 7523 assertions) or
	// Federated (a token from a trusted OIDC issuer, see federation). Each
	// type may authenticate only with its own method. Immutable. Default
	// ClientSecret.
	// +optional
	// +kubebuilder:default=ClientSecret
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self in ['ClientSecret', 'APIKey', 'PrivateKeyJWT', 'Federated']",message="type must be ClientSecret, APIKey, PrivateKeyJWT or Federated (the names are case-sensitive)",reason=FieldValueForbidden
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="type is immutable; create a new ClientCredential of the other type",reason=FieldValueForbidden
	Type CredentialType `json:"type,omitempty"`

	// secretName is the name of the workload Secret, in this namespace, that
	// holds client_id, the secret (client_secret, api_key or private_key.pem),
	// token_url and issuer. Immutable. Unset means the ClientCredential's name.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,message="secretName must be a valid Secret name: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit; or leave it unset to use the ClientCredential's name",reason=FieldValueForbidden
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="secretName is immutable; create a new ClientCredential to use another Secret",reason=FieldValueForbidden
	SecretName string `json:"secretName,omitempty"`

	// secretTemplate holds labels and annotations for the workload Secret.
	// +optional
	SecretTemplate *SecretTemplate `json:"secretTemplate,omitempty"`

	// validFor is how long each generated secret or key is valid after it is
	// issued, as a Go duration (1h to 17520h, that is 730 days). With
	// rotation.interval set, rotation renews it before it expires. Unset
	// means the secret does not expire.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule=`self.matches('^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1h') && duration(self) <= duration('17520h')`,message="validFor must be a duration from 1h to 17520h (730 days) in hours, minutes or seconds, for example 2160h for 90 days; days (d) are not a unit",reason=FieldValueForbidden
	ValidFor *metav1.Duration `json:"validFor,omitempty"`

	// rotation controls scheduled and forced rotation. Default: no schedule,
	// a 5m grace period.
	// +optional
	// +kubebuilder:default={gracePeriod: "5m"}
	Rotation *RotationSpec `json:"rotation,omitempty"`

	// revoked, when true, stops the credential at once: its secret is no
	// longer accepted, tokens issued from it introspect as inactive, and the
	// secret is removed from the workload Secret. Setting it back to false
	// issues a new secret; tokens issued before the revocation stay inactive.
	// Default false.
	// +optional
	// +kubebuilder:default=false
	Revoked bool `json:"revoked,omitempty"`

	// deletionPolicy says what happens to the workload Secret when this
	// ClientCredential is deleted: Delete removes it, Orphan leaves it (its
	// secret stops authenticating either way). Default Delete.
	// +optional
	// +kubebuilder:default=Delete
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self in ['Delete', 'Orphan']",message="deletionPolicy must be Delete or Orphan (the names are case-sensitive)",reason=FieldValueForbidden
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// rolloutRestartTargets are Deployments and StatefulSets in this
	// namespace restarted after each rotation, so that workloads reading the
	// secret only at start-up pick up the new one. At most 16.
	// +optional
	// +listType=map
	// +listMapKey=kind
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	RolloutRestartTargets []RolloutRestartTarget `json:"rolloutRestartTargets,omitempty"`

	// publicKeys are the client's own public keys, for type PrivateKeyJWT.
	// Unset with PrivateKeyJWT means Signet generates an ES256 key pair and
	// puts the private key in the workload Secret as private_key.pem.
	// +optional
	PublicKeys *PublicKeys `json:"publicKeys,omitempty"`

	// accessTokenLifetime is the lifetime of access tokens issued to this
	// credential (60s to 24h). A token never outlives its credential or
	// account. Default 1h.
	// +optional
	// +kubebuilder:default="1h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule=`self.matches('^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('60s') && duration(self) <= duration('24h')`,message="accessTokenLifetime must be a duration from 60s to 24h, for example 15m or 1h",reason=FieldValueForbidden
	AccessTokenLifetime *metav1.Duration `json:"accessTokenLifetime,omitempty"`

	// federation says which workload tokens a Federated credential accepts.
	// Required with type Federated, refused with any other type.
	// +optional
	Federation *Federation `json:"federation,omitempty"`
}

// ClientCredentialStatus is the observed state of a ClientCredential. It
// never holds a secret, a hash or a key.
type ClientCredentialStatus struct {
	// clientId is the OAuth2 client_id. It is derived from the object's UID,
	// stays the same across rotations, and starts with "sgc_" so that it is
	// never mistaken for a user name.
	// +optional
	ClientID string `json:"clientId,omitempty"`

	// secretName is the workload Secret Signet writes.
	// +optional
	SecretName string `json:"secretName,omitempty"`

	// expiresAt is when the current secret expires. Unset means it does not.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// lastRotationTime is when the current secret was issued.
	// +optional
	LastRotationTime *metav1.Time `json:"lastRotationTime,omitempty"`

	// nextRotationTime is when the next scheduled rotation happens. Unset
	// means none is scheduled.
	// +optional
	NextRotationTime *metav1.Time `json:"nextRotationTime,omitempty"`

	// previousSecretValidUntil is when the previous secret stops being
	// accepted. Unset means no previous secret is accepted.
	// +optional
	PreviousSecretValidUntil *metav1.Time `json:"previousSecretValidUntil,omitempty"`

	// previousSecretRetirement says when the last previous secret stopped
	// being accepted, and why.
	// +optional
	PreviousSecretRetirement *Retirement `json:"previousSecretRetirement,omitempty"`

	// propagation says how many token-server replicas have applied the
	// credential's current generation, and how long that took. The
	// Propagated condition is True once all of them have.
	// +optional
	Propagation *Propagation `json:"propagation,omitempty"`

	// conditions: Ready and Propagated; Reconciling, Stalled and
	// ExpiringSoon only while True.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// Retirement is when and why a previous secret stopped being accepted.
type Retirement struct {
	// retiredAt is when it stopped being accepted.
	RetiredAt metav1.Time `json:"retiredAt"`
	// reason is Unused (no consumer used it for unusedFor, policy
	// WhenUnused) or GraceEnded (the grace period ended).
	Reason string `json:"reason"`
	// message says what the decision was based on: the last use seen, and
	// the rollouts waited for.
	// +optional
	Message string `json:"message,omitempty"`
}

// Propagation is how far a change has reached the token-server replicas
// (docs/revocation.md, "Confirmed propagation").
type Propagation struct {
	// replicas is the number of token-server replicas reporting.
	Replicas int32 `json:"replicas"`
	// applied is the number of them that have applied the current
	// generation.
	Applied int32 `json:"applied"`
	// latency is the time from the change (when the manager first saw the
	// generation) to the last replica's acknowledgement; set once every
	// replica has applied it.
	// +optional
	Latency *metav1.Duration `json:"latency,omitempty"`
}

// ClientCredential is a credential of a ServiceAccount: a client secret, an
// API key, or the public keys of a private_key_jwt client. Signet writes the
// usable credential to a workload Secret in this namespace and only a keyed
// hash (or public key) where the token server reads it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sigcred;cc,categories=signet
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Account",type=string,JSONPath=`.spec.serviceAccountName`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Client ID",type=string,JSONPath=`.status.clientId`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Next Rotation",type=string,JSONPath=`.status.nextRotationTime`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClientCredential struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired credential.
	// +required
	Spec ClientCredentialSpec `json:"spec"`

	// status is the credential as Signet last observed it.
	// +optional
	Status ClientCredentialStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ClientCredentialList is a list of ClientCredentials.
type ClientCredentialList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ClientCredential `json:"items"`
}
