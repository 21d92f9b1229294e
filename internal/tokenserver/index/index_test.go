package index_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/index"
)

// indexed is a fixture with one API-key client whose record the index
// holds. Each test builds its own, so that the tests hold in any order and
// one at a time (go test -run, -shuffle).
func indexed(t *testing.T) (*fixture.Fixture, *fixture.Client, *index.Index) {
	t.Helper()
	fx, err := fixture.New("ns", signing.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := fx.NewClient(record.TypeAPIKey, "a", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	idx := index.New()
	apply(t, idx, recordSecret(t, fx, c))
	return fx, c, idx
}

func recordSecret(t *testing.T, fx *fixture.Fixture, c *fixture.Client) *corev1.Secret {
	t.Helper()
	s, err := fx.RecordSecret(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func apply(t *testing.T, idx *index.Index, s *corev1.Secret) {
	t.Helper()
	if err := idx.ApplySecret(s); err != nil {
		t.Fatalf("applying %s: %v", s.Name, err)
	}
}

func TestAPIKeyFoundByItsHash(t *testing.T) {
	fx, c, idx := indexed(t)
	if rec, _ := idx.RecordByAPIKeyHash(fx.Hasher.HashAll(credential.SecretDomain, c.Secret)); rec == nil || rec.ClientID != c.ID() {
		t.Fatal("the API key is not found by its hash")
	}
}

func TestRotationReplacesTheKeysHash(t *testing.T) {
	fx, c, idx := indexed(t)
	old := c.Secret
	if err := fx.RotateSecret(c, nil); err != nil {
		t.Fatal(err)
	}
	apply(t, idx, recordSecret(t, fx, c))
	if rec, _ := idx.RecordByAPIKeyHash(fx.Hasher.HashAll(credential.SecretDomain, old)); rec != nil {
		t.Fatal("the old key is still indexed")
	}
	if rec, _ := idx.RecordByAPIKeyHash(fx.Hasher.HashAll(credential.SecretDomain, c.Secret)); rec == nil {
		t.Fatal("the new key is not indexed")
	}
}

func TestARecordThatStopsParsingIsDropped(t *testing.T) {
	fx, c, idx := indexed(t)
	s := recordSecret(t, fx, c)
	s.Data[record.RecordKey] = []byte("{")
	if err := idx.ApplySecret(s); err == nil {
		t.Fatal("a broken record parsed")
	}
	if idx.Record(c.ID()) != nil || idx.Stats().APIKeyHashes != 0 {
		t.Fatal("the previous record is still served")
	}
}

func TestAKeySecretUnderAnotherNameIsIgnored(t *testing.T) {
	fx, _, idx := indexed(t)
	ks, err := fx.SigningKeysSecret()
	if err != nil {
		t.Fatal(err)
	}
	ks.Name = "impostor"
	if err := idx.ApplySecret(ks); !errors.Is(err, index.ErrIgnored) || idx.Keys() != nil {
		t.Fatalf("err %v, keys %v", err, idx.Keys())
	}
}

func TestABrokenKeySetKeepsThePreviousOne(t *testing.T) {
	fx, _, idx := indexed(t)
	ks, err := fx.SigningKeysSecret()
	if err != nil {
		t.Fatal(err)
	}
	apply(t, idx, ks)
	ks.Data[record.KeysKey] = []byte("nope")
	if err := idx.ApplySecret(ks); err == nil || idx.Keys() == nil {
		t.Fatalf("err %v, keys %v", err, idx.Keys())
	}
}

// TestStateIndependentOfOrder: the index built from one set of Secrets is
// the same whatever the order they arrive in, as after a relist, which
// delivers them in key order, or a watch, which delivers them as written:
// every client is found by its id and its API key, each once, and the key
// set and hash key are in place. Only the signing key set has versions
// that can arrive out of order (the probe and the watch both bring it), and
// the newer one wins in every order.
func TestStateIndependentOfOrder(t *testing.T) {
	fx, err := fixture.New("ns", signing.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var (
		secrets []*corev1.Secret
		clients []*fixture.Client
	)
	for i := range 20 {
		typ := record.TypeClientSecret
		if i%2 == 0 {
			typ = record.TypeAPIKey
		}
		c, err := fx.NewClient(typ, fmt.Sprintf("c%d", i), []string{"orders:read"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		secrets = append(secrets, recordSecret(t, fx, c))
	}
	hashKey, err := fx.HashKeySecret()
	if err != nil {
		t.Fatal(err)
	}
	older, err := fx.SigningKeysSecret()
	if err != nil {
		t.Fatal(err)
	}
	older.ResourceVersion = "10"
	next, err := fixture.New("ns", signing.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	newer, err := next.SigningKeysSecret()
	if err != nil {
		t.Fatal(err)
	}
	newer.ResourceVersion = "11"
	secrets = append(secrets, hashKey, older, newer)

	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		order := rng.Perm(len(secrets))
		idx := index.New()
		for _, i := range order {
			apply(t, idx, secrets[i])
		}
		if got, want := idx.Stats(), (index.Stats{Records: 20, APIKeyHashes: 10, SigningKeys: true, HashKeys: true}); got != want {
			t.Fatalf("order %v: stats %+v, want %+v", order, got, want)
		}
		for _, c := range clients {
			if rec := idx.Record(c.ID()); rec == nil || rec.ClientID != c.ID() {
				t.Fatalf("round %d: client %s not found by its id", round, c.ID())
			}
			if rec, _ := idx.RecordByAPIKeyHash(fx.Hasher.HashAll(credential.SecretDomain, c.Secret)); (rec != nil) != (c.Record.Type == record.TypeAPIKey) {
				t.Fatalf("round %d: client %s (%s) found by its API key: %v", round, c.ID(), c.Record.Type, rec != nil)
			}
		}
		if got, want := idx.Keys().Keys[0].ID, next.Keys.Keys[0].ID; got != want {
			t.Fatalf("order %v: signing key %s, want the newer key set's %s", order, got, want)
		}
	}
}
