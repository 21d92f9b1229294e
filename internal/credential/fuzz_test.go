package credential

import (
	"strings"
	"testing"
)

// FuzzCheckSecret: the format check runs on every presented secret before
// any hash, so it must never panic, must accept only strings of the exact
// shape (prefix, length, base62 alphabet), and must catch every single
// character changed in a valid secret, which is what the checksum is for.
func FuzzCheckSecret(f *testing.F) {
	for _, kind := range []Kind{ClientSecretKind, APIKeyKind} {
		s, err := GenerateSecret(kind)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(kind), s, uint8(7), byte('x'))
	}
	f.Add(uint8(ClientSecretKind), "sgs_", uint8(0), byte('0'))
	f.Add(uint8(APIKeyKind), strings.Repeat("é", SecretLen/2), uint8(3), byte(0))
	f.Fuzz(func(t *testing.T, k uint8, s string, pos uint8, b byte) {
		kind := Kind(k%2 + 1)
		if err := CheckSecret(kind, s); err == nil {
			if len(s) != SecretLen || !strings.HasPrefix(s, prefixFor(kind)) {
				t.Fatalf("accepted %q of length %d", s, len(s))
			}
			for i := len(prefixFor(kind)); i < len(s); i++ {
				if !strings.ContainsRune(base62, rune(s[i])) {
					t.Fatalf("accepted a byte outside base62 at %d", i)
				}
			}
			// One changed character in the body or checksum must be caught.
			i := len(prefixFor(kind)) + int(pos)%(len(s)-len(prefixFor(kind)))
			if b != s[i] && strings.IndexByte(base62, b) >= 0 {
				mutated := s[:i] + string(b) + s[i+1:]
				if CheckSecret(kind, mutated) == nil {
					t.Fatalf("a one-character change at %d went unnoticed", i)
				}
			}
		}
	})
}
