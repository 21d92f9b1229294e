// Package v1alpha1 contains the Signet API: ServiceAccount, AccessRule and
// ClientCredential in the iam.signet.dev group.
//
// +kubebuilder:object:generate=true
// +groupName=iam.signet.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every Signet kind.
	GroupVersion = schema.GroupVersion{Group: "iam.signet.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the Signet kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the Signet kinds to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
