// Package v1alpha1 contains the Signet API: ServiceAccount, AccessRule and
// ClientCredential in the iam.signet.dev group.
//
// +kubebuilder:object:generate=true
// +groupName=iam.signet.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every Signet kind.
	GroupVersion = schema.GroupVersion{Group: "iam.signet.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Signet kinds with a runtime.Scheme. It
	// depends on apimachinery only, so the API package stays cheap to import.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the Signet kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&ServiceAccount{}, &ServiceAccountList{},
		&AccessRule{}, &AccessRuleList{},
		&ClientCredential{}, &ClientCredentialList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
