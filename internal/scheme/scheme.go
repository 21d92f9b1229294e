// Package scheme builds the runtime.Scheme both Signet binaries and the
// tests use: the core Kubernetes kinds plus Signet's.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// New returns a scheme with the core Kubernetes kinds and Signet's.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := iamv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}
