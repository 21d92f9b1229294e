package main

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/replicareport"
	"github.com/signet-iam/signet/internal/testutil"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
)

// TestReplicaReport: on the real API server, a replica's report Lease
// says it applied a record write (its applied version reaches the write's
// resourceVersion), lists the use of a previous secret in grace with its
// source address, and is withdrawn (expired) when the replica stops.
func TestReplicaReport(t *testing.T) {
	ns, fx := namespace(t, cs)
	cl := newClient(t, fx, record.TypeClientSecret, "billing")
	srv := start(t, env.Config, ns, func(o *options) { o.replicaName = "Report-A" })
	lease := replicareport.LeaseName("Report-A")

	// A rotation with grace: the previous secret stays accepted.
	old := cl.Secret
	grace := time.Now().Add(time.Hour)
	if err := fx.RotateSecret(cl, &grace); err != nil {
		t.Fatal(err)
	}
	version := writeRecord(t, fx, cl)
	testutil.WaitFor(t, 10*time.Second, "the report to reach the rotation's resourceVersion", func() error {
		rep := readReport(t, ns, lease)
		if !rep.Applied(version) {
			return fmt.Errorf("applied version %q, want at least %s", rep.AppliedVersion, version)
		}
		if !rep.Live(time.Now()) {
			return fmt.Errorf("report renewed at %s with timeout %s is not live", rep.RenewTime, rep.Timeout)
		}
		return nil
	})
	if rep := readReport(t, ns, lease); len(rep.Uses) != 0 {
		t.Fatalf("uses before any use of the previous secret: %v", rep.Uses)
	}

	// The new secret is no use of the previous one; the old secret is.
	for _, secret := range []string{cl.Secret, old} {
		if r := post(t, srv.url+"/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, cl.ID(), secret); r.status != http.StatusOK {
			t.Fatalf("token with a secret in force: %d %s", r.status, r.body)
		}
	}
	testutil.WaitFor(t, 10*time.Second, "the report to list the use of the previous secret", func() error {
		u, ok := readReport(t, ns, lease).Uses[cl.ID()]
		if !ok {
			return fmt.Errorf("no use listed")
		}
		if u.Address != "127.0.0.1" || time.Since(u.At) > time.Minute {
			return fmt.Errorf("use %+v, want from 127.0.0.1 just now", u)
		}
		return nil
	})

	srv.stop()
	if rep := readReport(t, ns, lease); rep.Live(time.Now()) {
		t.Fatalf("a stopped replica's report is still live until %s", rep.Expires())
	}
}

// writeRecord writes a client's record and returns the write's
// resourceVersion.
func writeRecord(t *testing.T, fx *fixture.Fixture, cl *fixture.Client) string {
	t.Helper()
	s, err := fx.RecordSecret(cl)
	if err != nil {
		t.Fatal(err)
	}
	secrets := cs.CoreV1().Secrets(fx.Namespace)
	cur, err := secrets.Get(t.Context(), s.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.ResourceVersion = cur.ResourceVersion
	written, err := secrets.Update(t.Context(), s, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return written.ResourceVersion
}

func readReport(t *testing.T, ns, name string) replicareport.Report {
	t.Helper()
	l, err := cs.CoordinationV1().Leases(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		return replicareport.Report{}
	}
	rep, err := replicareport.Decode(l)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}
