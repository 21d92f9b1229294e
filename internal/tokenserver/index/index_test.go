package index_test

import (
	"errors"
	"testing"
	"time"

	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/signing"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/index"
)

func TestIndex(t *testing.T) {
	fx, err := fixture.New("ns", signing.ES256, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	idx := index.New()
	c, _ := fx.NewClient(record.TypeAPIKey, "a", nil, nil)
	s, _ := fx.RecordSecret(c)
	if err := idx.ApplySecret(s); err != nil {
		t.Fatal(err)
	}
	hashes := fx.Hasher.HashAll(credential.SecretDomain, c.Secret)
	if rec, _ := idx.RecordByAPIKeyHash(hashes); rec == nil || rec.ClientID != c.ID() {
		t.Fatal("the API key is not found by its hash")
	}

	t.Run("a rotation replaces the key's hash", func(t *testing.T) {
		old := c.Secret
		if err := fx.RotateSecret(c, nil); err != nil {
			t.Fatal(err)
		}
		s, _ := fx.RecordSecret(c)
		_ = idx.ApplySecret(s)
		if rec, _ := idx.RecordByAPIKeyHash(fx.Hasher.HashAll(credential.SecretDomain, old)); rec != nil {
			t.Fatal("the old key is still indexed")
		}
	})
	t.Run("a record that stops parsing is dropped, not kept stale", func(t *testing.T) {
		s, _ := fx.RecordSecret(c)
		s.Data[record.RecordKey] = []byte("{")
		if err := idx.ApplySecret(s); err == nil {
			t.Fatal("a broken record parsed")
		}
		if idx.Record(c.ID()) != nil || idx.Stats().APIKeyHashes != 0 {
			t.Fatal("the previous record is still served")
		}
	})
	t.Run("a key Secret under another name is ignored", func(t *testing.T) {
		ks, _ := fx.SigningKeysSecret()
		ks.Name = "impostor"
		if err := idx.ApplySecret(ks); !errors.Is(err, index.ErrIgnored) || idx.Keys() != nil {
			t.Fatalf("err %v, keys %v", err, idx.Keys())
		}
	})
	t.Run("a broken key set keeps the previous one", func(t *testing.T) {
		ks, _ := fx.SigningKeysSecret()
		_ = idx.ApplySecret(ks)
		ks.Data[record.KeysKey] = []byte("nope")
		if err := idx.ApplySecret(ks); err == nil || idx.Keys() == nil {
			t.Fatalf("err %v, keys %v", err, idx.Keys())
		}
	})
}
