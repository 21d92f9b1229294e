package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ServiceAccountSpec describes a machine identity: a CI job, a service or an
// integration that authenticates with its own credentials.
type ServiceAccountSpec struct {
	// description says what this identity is for, for the people who review
	// access. Unset means no description.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// displayName is a human-friendly name shown in tools. Unset means the
	// object name is shown.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DisplayName string `json:"displayName,omitempty"`

	// externalId correlates this identity with a record in another system
	// (a CMDB entry, a vendor's account ID). Signet stores it and does not
	// interpret it. Unset means none.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:XValidation:rule=`self.matches('^\\S+$')`,message="externalId must be one word without spaces or line breaks, as the other system spells its ID (for example cmdb-4711)",reason=FieldValueForbidden
	ExternalID string `json:"externalId,omitempty"`

	// disabled, when true, stops the identity at once: the token server
	// refuses new tokens for every credential of this account, and tokens
	// already issued introspect as inactive. Tokens issued before the account
	// was disabled stay inactive if it is enabled again. Default false.
	// +optional
	// +kubebuilder:default=false
	Disabled bool `json:"disabled,omitempty"`

	// daysValid is how many days after its creation the identity expires
	// (1 to 730). An expired identity behaves as a disabled one. Unset means
	// the identity does not expire.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self >= 1 && self <= 730",message="daysValid must be a whole number of days from 1 to 730 (two years); for a longer-lived identity, create a new ServiceAccount before this one expires",reason=FieldValueForbidden
	DaysValid *int32 `json:"daysValid,omitempty"`
}

// ServiceAccountStatus is the observed state of a ServiceAccount.
type ServiceAccountStatus struct {
	// subject is the stable "sub" claim of every token issued to this
	// identity, built from its namespace and name.
	// +optional
	Subject string `json:"subject,omitempty"`

	// scopes is the union of the scopes of every AccessRule in force that
	// names this account, sorted.
	// +optional
	// +listType=set
	Scopes []string `json:"scopes,omitempty"`

	// audiences is the union of the audiences of every AccessRule in force
	// that names this account, sorted.
	// +optional
	// +listType=set
	Audiences []string `json:"audiences,omitempty"`

	// credentialCount is the number of ClientCredentials that name this account.
	// The default makes an account without credentials show 0, not blank.
	// +optional
	// +kubebuilder:default=0
	CredentialCount int32 `json:"credentialCount,omitempty"`

	// expiresAt is when the identity expires, from spec.daysValid. Unset
	// means it does not expire.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// propagation says how many token-server replicas have applied the
	// account's current generation to every credential of the account.
	// +optional
	Propagation *Propagation `json:"propagation,omitempty"`

	// conditions: Ready and Propagated, and Reconciling or Stalled while
	// they are True.
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

// ServiceAccount is a machine identity in a namespace. Credentials
// (ClientCredential) authenticate as it; AccessRules grant it scopes.
//
// Note: the core Kubernetes ServiceAccount shadows this kind for
// "kubectl get serviceaccounts"; use "kubectl get serviceaccounts.iam.signet.dev",
// the short name "sigsa", or "kubectl get signet".
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sigsa,categories=signet
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Subject",type=string,JSONPath=`.status.subject`
// +kubebuilder:printcolumn:name="Disabled",type=boolean,JSONPath=`.spec.disabled`
// +kubebuilder:printcolumn:name="Credentials",type=integer,JSONPath=`.status.credentialCount`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ServiceAccount struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired identity.
	// +required
	Spec ServiceAccountSpec `json:"spec"`

	// status is the identity as Signet last observed it.
	// +optional
	Status ServiceAccountStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ServiceAccountList is a list of ServiceAccounts.
type ServiceAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ServiceAccount `json:"items"`
}
