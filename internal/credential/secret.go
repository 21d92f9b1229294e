package credential

import (
	"crypto/rand"
	"errors"
	"fmt"
	"hash/crc32"
	"math/big"
	"strings"
)

// Kind says what a generated secret is for. It is visible in the secret's
// prefix, so that a leaked secret tells a scanner (and a person) what it is.
type Kind int

const (
	// ClientSecretKind secrets are sent as client_secret.
	ClientSecretKind Kind = iota + 1
	// APIKeyKind secrets are exchanged with the API-key grant.
	APIKeyKind
)

const (
	// ClientSecretPrefix starts every client secret: "sgs_".
	ClientSecretPrefix = "sgs_"
	// APIKeyPrefix starts every API key: "sgk_".
	APIKeyPrefix = "sgk_"

	// entropyBytes is the random part of a secret: 256 bits, so that a fast
	// keyed hash is as strong as any password hash would be.
	entropyBytes = 32
	// bodyLen is entropyBytes in fixed-width base62.
	bodyLen = 43
	// checksumLen is a CRC32 in fixed-width base62.
	checksumLen = 6

	// SecretLen is the length of every generated secret.
	SecretLen = len(ClientSecretPrefix) + bodyLen + checksumLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// ErrMalformedSecret is returned for a string that is not a well-formed
// Signet secret of the expected kind. It never includes the input.
var ErrMalformedSecret = errors.New("not a well-formed Signet secret")

func prefixFor(kind Kind) string {
	switch kind {
	case ClientSecretKind:
		return ClientSecretPrefix
	case APIKeyKind:
		return APIKeyPrefix
	default:
		panic(fmt.Sprintf("credential: unknown secret kind %d", kind))
	}
}

// GenerateSecret returns a new secret of the given kind: its prefix, 256 bits
// from crypto/rand in base62, and a CRC32 checksum of both in base62, in the
// style of GitHub's tokens. The checksum lets scanners find leaked secrets
// with few false positives and lets the token server reject typos without
// computing a hash.
func GenerateSecret(kind Kind) (string, error) {
	prefix := prefixFor(kind)
	raw := make([]byte, entropyBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("reading random bytes: %w", err)
	}
	body := encodeBase62(new(big.Int).SetBytes(raw), bodyLen)
	return prefix + body + checksum(prefix+body), nil
}

// CheckSecret reports whether s is a well-formed secret of the given kind:
// the right prefix, length, alphabet and checksum. It says nothing about
// whether the secret is valid for any client.
func CheckSecret(kind Kind, s string) error {
	prefix := prefixFor(kind)
	if len(s) != SecretLen || !strings.HasPrefix(s, prefix) {
		return ErrMalformedSecret
	}
	for i := len(prefix); i < len(s); i++ {
		if strings.IndexByte(base62, s[i]) < 0 {
			return ErrMalformedSecret
		}
	}
	split := len(s) - checksumLen
	if checksum(s[:split]) != s[split:] {
		return ErrMalformedSecret
	}
	return nil
}

// checksum is the CRC32 of s in fixed-width base62. It runs on every token
// request, so it avoids math/big.
func checksum(s string) string {
	var out [checksumLen]byte
	n := crc32.ChecksumIEEE([]byte(s))
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[n%62]
		n /= 62
	}
	return string(out[:])
}

// encodeBase62 writes n in base62, left-padded with zeros to width.
func encodeBase62(n *big.Int, width int) string {
	out := make([]byte, width)
	for i := range out {
		out[i] = '0'
	}
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := width - 1; i >= 0 && n.Sign() > 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = base62[mod.Int64()]
	}
	return string(out)
}
