package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Subject names an identity an AccessRule grants to. It is shaped like an
// RBAC subject so that other kinds can be added later.
type Subject struct {
	// kind of the subject. Only ServiceAccount (iam.signet.dev) is accepted.
	// Default ServiceAccount.
	// +optional
	// +kubebuilder:default=ServiceAccount
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self == 'ServiceAccount'",message="kind must be ServiceAccount (a Signet ServiceAccount in this namespace); remove kind or set it to ServiceAccount",reason=FieldValueForbidden
	Kind string `json:"kind"`

	// name of the ServiceAccount, in the AccessRule's namespace.
	// +required
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')`,message="name must be the name of a Signet ServiceAccount in this namespace: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",reason=FieldValueForbidden
	Name string `json:"name"`
}

// AccessRuleSpec grants scopes (and optionally audiences) to subjects.
type AccessRuleSpec struct {
	// subjects are the ServiceAccounts, in this namespace, that receive the
	// grant. At least one, at most 256.
	// +required
	// +listType=map
	// +listMapKey=kind
	// +listMapKey=name
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	Subjects []Subject `json:"subjects"`

	// scopes are the privileges granted, such as "orders:read". Each is an
	// RFC 6749 scope-token: printable ASCII without spaces, double quotes or
	// backslashes. At least one, at most 128.
	// +required
	// +listType=set
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$')`,message="each scope must be an RFC 6749 scope-token of 1 to 128 characters: printable ASCII without spaces, double quotes or backslashes, for example orders:read; list several scopes as separate items",reason=FieldValueForbidden
	Scopes []string `json:"scopes"`

	// audiences are the APIs the grant is for (the "aud" of the tokens, for
	// example "https://orders.example.com"). A client may ask for any of them
	// with the RFC 8707 "resource" or "audience" parameter. Unset means
	// tokens carry the token server's default audience.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$')`,message="each audience must be 1 to 256 characters of printable ASCII without spaces, double quotes or backslashes, for example https://orders.example.com",reason=FieldValueForbidden
	Audiences []string `json:"audiences,omitempty"`

	// expiresAt ends the grant: from then on, new tokens no longer carry its
	// scopes and tokens that relied on it introspect as inactive. Unset means
	// the grant stays in force until the AccessRule is deleted.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// description says why the grant exists, for access reviews.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`
}

// AccessRuleStatus is the observed state of an AccessRule.
type AccessRuleStatus struct {
	// foundSubjects are the subjects that exist, sorted.
	// +optional
	// +listType=set
	FoundSubjects []string `json:"foundSubjects,omitempty"`

	// missingSubjects are the subjects that do not exist (yet), sorted. The
	// grant applies to them as soon as they are created.
	// +optional
	// +listType=set
	MissingSubjects []string `json:"missingSubjects,omitempty"`

	// conditions: Ready, and Reconciling or Stalled while they are True.
	// Ready is False with reason Expired after spec.expiresAt, and with
	// reason SubjectsMissing while a subject does not exist.
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

// AccessRule grants privileges (scopes, and optionally audiences) to
// ServiceAccounts in its namespace. An account's privileges are the union of
// every AccessRule in force that names it.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sigrule,categories=signet
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Scopes",type=string,JSONPath=`.spec.scopes`,priority=1
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expiresAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AccessRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired grant.
	// +required
	Spec AccessRuleSpec `json:"spec"`

	// status is the grant as Signet last observed it.
	// +optional
	Status AccessRuleStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// AccessRuleList is a list of AccessRules.
type AccessRuleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []AccessRule `json:"items"`
}
