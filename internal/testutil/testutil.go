// Package testutil holds helpers shared by Signet's tests on the real API
// server: reading manifests from the repository, acting as another user,
// and installing cluster-scoped objects for the length of a test.
package testutil

import (
	"context"
	"os"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ReadObjects decodes every YAML document of a manifest file, in order.
func ReadObjects(t testing.TB, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(data), "\n---") {
		obj := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if len(obj.Object) > 0 {
			out = append(out, obj)
		}
	}
	return out
}

// Install creates the objects as the given client and deletes them when the
// test ends. Objects that exist already are left alone and not deleted.
func Install(t testing.TB, c client.Client, objs ...client.Object) {
	t.Helper()
	ctx := context.Background()
	for _, obj := range objs {
		if err := c.Create(ctx, obj); err != nil {
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			t.Fatalf("installing %s %s: %v", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), err)
		}
		t.Cleanup(func() { _ = c.Delete(ctx, obj) })
	}
}

// As returns a client that acts as the given user and groups, through
// impersonation by the administrator of cfg, so that RBAC and admission
// treat its requests as that user's.
func As(t testing.TB, cfg *rest.Config, scheme *runtime.Scheme, user string, groups ...string) client.Client {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: append([]string{"system:authenticated"}, groups...)}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ServiceAccountUser is the user name Kubernetes gives a ServiceAccount.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// Mistyped returns s with its last character replaced by another one, as a
// user who mistyped a secret or an API key sends it: never s itself, which
// a fixed replacement character would give once in 32 random secrets.
func Mistyped(s string) string {
	if s == "" {
		return "x"
	}
	last := byte('x')
	if s[len(s)-1] == last {
		last = 'y'
	}
	return s[:len(s)-1] + string(last)
}
