package kube

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/testutil"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/index"
)

// TestProbeBringsKeysWhileWatchesFail: a new signing key reaches a replica
// whose list and watch of Secrets keep failing (as while a reflector waits
// out its back-off after the API server returned) through the connection
// probe, and an older copy delivered later does not replace it.
func TestProbeBringsKeysWhileWatchesFail(t *testing.T) {
	fx, err := fixture.New("signet-system", signing.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := fx.SigningKeysSecret()
	if err != nil {
		t.Fatal(err)
	}
	keys.ResourceVersion = "20"
	cs := fake.NewClientset(keys)
	broken := errors.New("watch unavailable")
	cs.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, broken })
	cs.PrependWatchReactor("secrets", func(k8stesting.Action) (bool, watch.Interface, error) { return true, nil, broken })

	idx := index.New()
	w := NewWatcher(cs, "signet-system", idx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 2*ProbeInterval, "the probe applies the key set", func() error {
		if idx.Keys() == nil {
			return errors.New("no keys in the index")
		}
		return nil
	})
	if w.Synced() {
		t.Fatal("the informers synced through a failing list: the test does not isolate the probe")
	}

	// The watch, catching up later, may deliver an older copy first.
	older, err := fixture.New("signet-system", signing.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	stale, err := older.SigningKeysSecret()
	if err != nil {
		t.Fatal(err)
	}
	stale.ResourceVersion = "10"
	if err := idx.ApplySecret(stale); err != nil {
		t.Fatalf("an older key set: %v", err)
	}
	if got, want := idx.Keys().Keys[0].ID, fx.Keys.Keys[0].ID; got != want {
		t.Fatalf("an older key set replaced the newer one: signing key %s, want %s", got, want)
	}
}
