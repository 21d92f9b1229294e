package testutil

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Namespace creates a namespace named from prefix for one test and deletes
// it when the test ends, first calling dump (when not nil) with its name if
// the test failed.
func Namespace(t testing.TB, c client.Client, prefix string, dump func(ns string)) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix}}
	if err := c.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && dump != nil {
			dump(ns.Name)
		}
		_ = c.Delete(context.Background(), ns)
	})
	return ns.Name
}

// WorkloadSecret waits until the Secret ns/name holds key and returns its
// data as strings.
func WorkloadSecret(t testing.TB, c client.Client, timeout time.Duration, ns, name, key string) map[string]string {
	t.Helper()
	out := map[string]string{}
	WaitFor(t, timeout, "workload Secret "+ns+"/"+name, func() error {
		s := &corev1.Secret{}
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, s); err != nil {
			return err
		}
		if len(s.Data[key]) == 0 {
			return fmt.Errorf("no %s yet", key)
		}
		for k, v := range s.Data {
			out[k] = string(v)
		}
		return nil
	})
	return out
}
