package credential

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
)

// HashAlgorithm names the keyed hash in the self-describing hash string.
const HashAlgorithm = "hmac-sha256"

// MinHashKeyLen is the shortest hash key accepted: 256 bits.
const MinHashKeyLen = 32

// HashKey is one key of the hash keyring.
type HashKey struct {
	// ID names the key inside hash strings. Short and not secret.
	ID string
	// Key is the HMAC key, at least MinHashKeyLen bytes.
	Key []byte
}

// Hasher computes and verifies keyed hashes of secrets. A hash string is
// self-describing, "hmac-sha256$<key id>$<base64url MAC>", so that the
// algorithm and the key can change later while older hashes still verify.
//
// A Hasher is safe for concurrent use. It keeps a pool of HMAC states per
// key, because setting up an HMAC costs two extra SHA-256 blocks and the
// token server verifies a secret on every request.
type Hasher struct {
	current string
	keys    map[string]*hashKeyState
}

type hashKeyState struct {
	pool sync.Pool
}

func (s *hashKeyState) sum(domain, secret string) []byte {
	h := s.pool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(domain))
	h.Write([]byte{0})
	h.Write([]byte(secret))
	var buf [sha256.Size]byte
	out := h.Sum(buf[:0])
	s.pool.Put(h)
	return out
}

// NewHasher returns a Hasher that hashes with the key named current and
// verifies with any key in keys.
func NewHasher(current string, keys []HashKey) (*Hasher, error) {
	h := &Hasher{current: current, keys: make(map[string]*hashKeyState, len(keys))}
	for _, k := range keys {
		if k.ID == "" || strings.ContainsAny(k.ID, "$ ") {
			return nil, fmt.Errorf("hash key ID %q must be non-empty without '$' or spaces", k.ID)
		}
		if len(k.Key) < MinHashKeyLen {
			return nil, fmt.Errorf("hash key %q is %d bytes; at least %d are required", k.ID, len(k.Key), MinHashKeyLen)
		}
		key := append([]byte(nil), k.Key...)
		h.keys[k.ID] = &hashKeyState{pool: sync.Pool{New: func() any { return hmac.New(sha256.New, key) }}}
	}
	if _, ok := h.keys[current]; !ok {
		return nil, fmt.Errorf("current hash key %q is not in the keyring", current)
	}
	return h, nil
}

// CurrentKeyID is the ID of the key new hashes are made with.
func (h *Hasher) CurrentKeyID() string { return h.current }

// Domains separate the uses of the hash key, so that a value computed for one
// purpose is never accepted for another.
const (
	// SecretDomain hashes are stored in credential records.
	SecretDomain = "signet/credential-secret/v1"
	// BindingDomain hashes are stored on workload Secrets, to tell a secret
	// Signet wrote from one somebody edited in.
	BindingDomain = "signet/workload-binding/v1"
)

// Hash returns the hash string of secret under the current key.
func (h *Hasher) Hash(domain, secret string) string {
	return h.hashWith(h.current, domain, secret)
}

// HashAll returns the hash of secret under every key in the keyring, keyed by
// the resulting hash string. The token server uses it to look up an API key,
// which carries no client_id, in an index built from records hashed under
// any key.
func (h *Hasher) HashAll(domain, secret string) []string {
	out := make([]string, 0, len(h.keys))
	for id := range h.keys {
		out = append(out, h.hashWith(id, domain, secret))
	}
	return out
}

func (h *Hasher) hashWith(id, domain, secret string) string {
	mac := h.keys[id].sum(domain, secret)
	return HashAlgorithm + "$" + id + "$" + base64.RawURLEncoding.EncodeToString(mac)
}

// ErrUnknownHashKey is returned when a hash names a key the keyring lacks.
var ErrUnknownHashKey = errors.New("hash was made with a key this keyring does not hold")

// Verify reports whether secret matches the hash string encoded, comparing
// in constant time. It returns ErrUnknownHashKey, not false, when the key is
// missing, so that callers can tell a configuration problem from a wrong
// secret.
func (h *Hasher) Verify(domain, secret, encoded string) (bool, error) {
	alg, rest, ok := strings.Cut(encoded, "$")
	if !ok || alg != HashAlgorithm {
		return false, fmt.Errorf("unsupported hash format")
	}
	id, macText, ok := strings.Cut(rest, "$")
	if !ok {
		return false, fmt.Errorf("unsupported hash format")
	}
	st, ok := h.keys[id]
	if !ok {
		return false, ErrUnknownHashKey
	}
	// Check the length before decoding: Decode writes as many bytes as the
	// input holds, and the input comes from a record, not from this code.
	if len(macText) != base64.RawURLEncoding.EncodedLen(sha256.Size) {
		return false, fmt.Errorf("unsupported hash format")
	}
	var want [sha256.Size]byte
	if _, err := base64.RawURLEncoding.Decode(want[:], []byte(macText)); err != nil {
		return false, fmt.Errorf("unsupported hash format")
	}
	return hmac.Equal(st.sum(domain, secret), want[:]), nil
}
