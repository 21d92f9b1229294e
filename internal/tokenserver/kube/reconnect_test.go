package kube

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestUntilReachable: a list or watch waits for an API server that refuses
// connections, retrying at ReconnectInterval and saying the connection is
// down, so that the reflector never backs off; an answer from the server,
// even a refusal, returns at once; so does the end of the context.
func TestUntilReachable(t *testing.T) {
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:6443/api/v1/namespaces/signet-system/secrets",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	ctx := context.Background()

	calls, downs := 0, 0
	v, err := untilReachable(ctx, func() { downs++ }, func() (int, error) {
		if calls++; calls < 3 {
			return 0, refused
		}
		return 7, nil
	})
	if v != 7 || err != nil || calls != 3 || downs != 2 {
		t.Errorf("refused twice, then answered: got %d, %v after %d calls and %d downs; want 7 after 3 calls and 2 downs", v, err, calls, downs)
	}

	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("no"))
	calls = 0
	if _, err := untilReachable(ctx, func() {}, func() (int, error) { calls++; return 0, forbidden }); !apierrors.IsForbidden(err) || calls != 1 {
		t.Errorf("an answer from the server: %v after %d calls, want Forbidden after 1", err, calls)
	}

	cctx, cancel := context.WithTimeout(ctx, 2*ReconnectInterval)
	defer cancel()
	start := time.Now()
	if _, err := untilReachable(cctx, func() {}, func() (int, error) { return 0, refused }); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("after the context ended: %v, want the last connection error", err)
	}
	if cctx.Err() == nil {
		t.Errorf("returned after %v, before the context ended", time.Since(start))
	}
}

func TestUnreachable(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, true},
		{io.ErrUnexpectedEOF, true},
		{apierrors.NewServiceUnavailable("overloaded"), false},
		{apierrors.NewTooManyRequests("slow down", 1), false},
		{apierrors.NewResourceExpired("too old"), false},
	} {
		if got := unreachable(tc.err); got != tc.want {
			t.Errorf("unreachable(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
