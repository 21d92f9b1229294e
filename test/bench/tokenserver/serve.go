package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/index"
	"github.com/signet-iam/signet/internal/tokenserver/kube"
)

const (
	benchIssuer    = "http://127.0.0.1"
	benchNamespace = "signet-system"
)

// state is what the server hands the load generator: where it listens and
// the credentials to use. It is written to a private temporary file.
type state struct {
	URL     string      `json:"url"`
	Clients [][2]string `json:"clients"`
	// Tokens, with -endpoint introspect, holds one access token per
	// client; the load generator fills it.
	Tokens []string `json:"-"`
}

// serve runs the token server until SIGTERM, with the given number of
// ClientSecret clients, and writes its state file.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	stateFile := fs.String("state", "", "Where to write the state file.")
	logFile := fs.String("log", os.DevNull, "Where the server's log and audit lines go.")
	n := fs.Int("clients", 100, "Number of clients.")
	alg := fs.String("alg", signing.ES256, "Signing algorithm.")
	profile := fs.String("cpuprofile", "", "Write a CPU profile of the whole run here.")
	_ = fs.Parse(args)
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	fx, err := fixture.New(benchNamespace, *alg, time.Now())
	if err != nil {
		return err
	}
	objects, st, err := benchObjects(fx, *n)
	if err != nil {
		return err
	}
	client := fake.NewClientset(objects...)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	logOut, err := os.OpenFile(*logFile, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logOut.Close()
	log := slog.New(slog.NewJSONHandler(logOut, nil))
	idx := index.New()
	w := kube.NewWatcher(client, benchNamespace, idx, log)
	if err := w.Start(ctx); err != nil {
		return err
	}
	for !w.Synced() || idx.Stats().Records < *n {
		time.Sleep(10 * time.Millisecond)
	}
	srv, err := tokenserver.New(tokenserver.Config{
		Issuer: benchIssuer, Index: idx, Source: w, Log: log,
		Ledger: &kube.Ledger{Client: client, Namespace: benchNamespace},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	st.URL = "http://" + ln.Addr().String() + tokenserver.TokenPath
	if err := writeState(*stateFile, st); err != nil {
		return err
	}
	hs := &http.Server{Handler: srv.AllHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = hs.Close()
	}()
	if err := hs.Serve(tokenserver.FairListener(ln)); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func benchObjects(fx *fixture.Fixture, n int) ([]runtimeObject, *state, error) {
	st := &state{}
	var objs []runtimeObject
	for _, get := range []func() (*corev1.Secret, error){fx.SigningKeysSecret, fx.HashKeySecret} {
		s, err := get()
		if err != nil {
			return nil, nil, err
		}
		objs = append(objs, s)
	}
	for i := range n {
		c, err := fx.NewClient(record.TypeClientSecret, fmt.Sprintf("bench-%d", i), []string{"orders:read", "orders:write"}, []string{"https://orders.example"})
		if err != nil {
			return nil, nil, err
		}
		s, err := fx.RecordSecret(c)
		if err != nil {
			return nil, nil, err
		}
		objs = append(objs, s)
		st.Clients = append(st.Clients, [2]string{c.ID(), c.Secret})
	}
	objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace}})
	return objs, st, nil
}

func writeState(path string, st *state) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

type runtimeObject = runtime.Object
