package main

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/testenv"
)

// readyWatch counts Ready ClientCredentials from a watch. Polling with a
// full List would make the API server serialise every credential several
// times a second, a load the benchmark would then measure as the manager's.
type readyWatch struct{ cache cache.Cache }

func watchReady(ctx context.Context, env *testenv.Environment) (*readyWatch, error) {
	c, err := cache.New(env.Config, cache.Options{
		Scheme:            testenv.Scheme(),
		DefaultNamespaces: map[string]cache.Config{"bench": {}},
		DefaultTransform:  cache.TransformStripManagedFields(),
	})
	if err != nil {
		return nil, err
	}
	go func() { _ = c.Start(ctx) }()
	if _, err := c.GetInformer(ctx, &iamv1.ClientCredential{}); err != nil {
		return nil, err
	}
	if !c.WaitForCacheSync(ctx) {
		return nil, fmt.Errorf("the ClientCredential watch did not sync")
	}
	return &readyWatch{cache: c}, nil
}

// wait returns once n ClientCredentials are Ready.
func (w *readyWatch) wait(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ready, err := w.count(ctx)
		if err != nil {
			return err
		}
		if ready == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d credentials Ready after %s", ready, n, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *readyWatch) count(ctx context.Context) (int, error) {
	list := &iamv1.ClientCredentialList{}
	if err := w.cache.List(ctx, list, client.InNamespace("bench"), client.UnsafeDisableDeepCopy); err != nil {
		return 0, err
	}
	n := 0
	for _, cc := range list.Items {
		if meta.IsStatusConditionTrue(cc.Status.Conditions, iamv1.ReadyCondition) {
			n++
		}
	}
	return n, nil
}
