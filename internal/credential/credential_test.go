package credential

import (
	"errors"
	"strings"
	"testing"
)

func TestGeneratedSecretsAreWellFormedAndUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, kind := range []Kind{ClientSecretKind, APIKeyKind} {
		for range 200 {
			s, err := GenerateSecret(kind)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) != SecretLen {
				t.Fatalf("secret length %d, want %d", len(s), SecretLen)
			}
			if err := CheckSecret(kind, s); err != nil {
				t.Fatalf("a generated secret fails its own check: %v", err)
			}
			if seen[s] {
				t.Fatal("two generated secrets are equal")
			}
			seen[s] = true
		}
	}
}

func TestCheckSecretRejectsMalformedSecrets(t *testing.T) {
	good, _ := GenerateSecret(ClientSecretKind)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	for name, tc := range map[string]struct {
		kind Kind
		s    string
	}{
		"a typo in the random part":                {ClientSecretKind, flip(good, 10)},
		"a typo in the checksum":                   {ClientSecretKind, flip(good, len(good)-1)},
		"a client secret used as an API key":       {APIKeyKind, good},
		"a truncated secret":                       {ClientSecretKind, good[:len(good)-1]},
		"a secret with a character outside base62": {ClientSecretKind, good[:20] + "-" + good[21:]},
		"an empty string":                          {ClientSecretKind, ""},
	} {
		t.Run(name, func(t *testing.T) {
			if err := CheckSecret(tc.kind, tc.s); err == nil {
				t.Fatal("accepted a malformed secret")
			}
		})
	}
}

func TestClientID(t *testing.T) {
	id, err := ClientID("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := ClientID("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f")
	other, _ := ClientID("3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e50")
	if id != again || id == other {
		t.Fatalf("client IDs must be stable per UID and differ between UIDs: %q %q %q", id, again, other)
	}
	if !strings.HasPrefix(id, ClientIDPrefix) || !ValidClientID(id) {
		t.Fatalf("client ID %q is not recognised as one", id)
	}
	for _, bad := range []string{"", "alice", "sgc_", id + "a", strings.ToUpper(id), "sgs_" + id[4:]} {
		if ValidClientID(bad) {
			t.Errorf("ValidClientID(%q) = true", bad)
		}
	}
	if _, err := ClientID("not-a-uid"); err == nil {
		t.Error("ClientID accepted a non-UUID")
	}
}

func newTestHasher(t testing.TB) *Hasher {
	h, err := NewHasher("k2", []HashKey{
		{ID: "k1", Key: []byte(strings.Repeat("1", 32))},
		{ID: "k2", Key: []byte(strings.Repeat("2", 32))},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	h := newTestHasher(t)
	secret, _ := GenerateSecret(ClientSecretKind)
	other, _ := GenerateSecret(ClientSecretKind)
	hash := h.Hash(SecretDomain, secret)

	if !strings.HasPrefix(hash, "hmac-sha256$k2$") {
		t.Fatalf("hash %q is not self-describing with the current key", hash)
	}
	if strings.Contains(hash, secret) {
		t.Fatal("hash contains the secret")
	}
	if ok, err := h.Verify(SecretDomain, secret, hash); !ok || err != nil {
		t.Fatalf("Verify(right secret) = %v, %v", ok, err)
	}
	if ok, _ := h.Verify(SecretDomain, other, hash); ok {
		t.Fatal("Verify accepted the wrong secret")
	}
	if ok, _ := h.Verify(BindingDomain, secret, hash); ok {
		t.Fatal("a secret-domain hash verified in the binding domain")
	}

	old, _ := NewHasher("k1", []HashKey{{ID: "k1", Key: []byte(strings.Repeat("1", 32))}})
	if ok, err := h.Verify(SecretDomain, secret, old.Hash(SecretDomain, secret)); !ok || err != nil {
		t.Fatalf("a hash under an older key in the ring must verify: %v %v", ok, err)
	}
	if got := h.HashAll(SecretDomain, secret); len(got) != 2 {
		t.Fatalf("HashAll returned %d hashes, want one per key", len(got))
	}

	unknown, _ := NewHasher("k9", []HashKey{{ID: "k9", Key: []byte(strings.Repeat("9", 32))}})
	if _, err := h.Verify(SecretDomain, secret, unknown.Hash(SecretDomain, secret)); !errors.Is(err, ErrUnknownHashKey) {
		t.Fatalf("unknown key error = %v", err)
	}
	for _, bad := range []string{"", "md5$k2$x", "hmac-sha256$k2", "hmac-sha256$k2$" + strings.Repeat("A", 4096), "hmac-sha256$k2$!!!"} {
		if ok, err := h.Verify(SecretDomain, secret, bad); ok || err == nil {
			t.Errorf("Verify accepted malformed hash %q", bad)
		}
	}
}

func TestNewHasherRejectsWeakKeys(t *testing.T) {
	if _, err := NewHasher("k", []HashKey{{ID: "k", Key: []byte("short")}}); err == nil {
		t.Error("accepted a key under 256 bits")
	}
	if _, err := NewHasher("missing", []HashKey{{ID: "k", Key: make([]byte, 32)}}); err == nil {
		t.Error("accepted a current key that is not in the ring")
	}
	if _, err := NewHasher("a$b", []HashKey{{ID: "a$b", Key: make([]byte, 32)}}); err == nil {
		t.Error("accepted a key ID containing the separator")
	}
}

func BenchmarkVerify(b *testing.B) {
	h := newTestHasher(b)
	secret, _ := GenerateSecret(ClientSecretKind)
	hash := h.Hash(SecretDomain, secret)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, _ := h.Verify(SecretDomain, secret, hash); !ok {
				b.Fatal("verify failed")
			}
		}
	})
}

func BenchmarkCheckSecret(b *testing.B) {
	secret, _ := GenerateSecret(ClientSecretKind)
	b.ReportAllocs()
	for b.Loop() {
		if CheckSecret(ClientSecretKind, secret) != nil {
			b.Fatal("check failed")
		}
	}
}
