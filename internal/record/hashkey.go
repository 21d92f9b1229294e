package record

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/signet-iam/signet/internal/credential"
)

// HashKeyring is the content of the hash key Secret: the HMAC keys under
// which secrets are hashed. The manager creates it once; keys are never
// removed while a record may still use them.
type HashKeyring struct {
	// Current names the key new hashes use.
	Current string `json:"current"`
	// Keys holds every key that may appear in a record.
	Keys []HashKeyEntry `json:"keys"`
}

// HashKeyEntry is one HMAC key.
type HashKeyEntry struct {
	ID      string    `json:"id"`
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
}

// NewHashKeyring returns a keyring with one fresh 256-bit key.
func NewHashKeyring(now time.Time) (*HashKeyring, error) {
	key := make([]byte, credential.MinHashKeyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("reading random bytes: %w", err)
	}
	id := "k" + now.UTC().Format("20060102")
	return &HashKeyring{Current: id, Keys: []HashKeyEntry{{ID: id, Key: key, Created: now.UTC()}}}, nil
}

// Marshal encodes the keyring for the KeysKey of its Secret.
func (k *HashKeyring) Marshal() ([]byte, error) { return json.Marshal(k) }

// ParseHashKeyring decodes a keyring. Errors never include key material.
func ParseHashKeyring(data []byte) (*HashKeyring, error) {
	var k HashKeyring
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, errors.New("hash keyring is not valid JSON")
	}
	return &k, nil
}

// Hasher builds the credential.Hasher for the keyring.
func (k *HashKeyring) Hasher() (*credential.Hasher, error) {
	keys := make([]credential.HashKey, 0, len(k.Keys))
	for _, e := range k.Keys {
		keys = append(keys, credential.HashKey{ID: e.ID, Key: e.Key})
	}
	return credential.NewHasher(k.Current, keys)
}

// HasherFromSecret is the one way to read the hash keyring Secret: decode
// its KeysKey and build the Hasher. The manager and the token server both
// use it, so they never disagree on what a usable keyring is.
func HasherFromSecret(data map[string][]byte) (*credential.Hasher, error) {
	ring, err := ParseHashKeyring(data[KeysKey])
	if err != nil {
		return nil, err
	}
	return ring.Hasher()
}
