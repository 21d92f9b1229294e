package v1alpha1_test

import (
	"context"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/signet-iam/signet/internal/testenv"
)

// k8s reaches the real API server started in TestMain, with the CRDs
// installed; env is that control plane.
var (
	k8s client.Client
	env *testenv.Environment
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, func(e *testenv.Environment) (err error) {
		env = e
		k8s, err = client.New(env.Config, client.Options{Scheme: testenv.Scheme()})
		return err
	}))
}

// newNamespace creates a namespace for one test, so tests never see each
// other's objects.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "validation-"}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8s.Delete(context.Background(), ns) })
	return ns.Name
}
