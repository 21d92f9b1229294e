// Package publickeys turns the public keys a PrivateKeyJWT client supplies
// (PEM or a JWKS) and the key pairs Signet generates for such clients into
// the normalised JWKs a credential record holds: every key with a "kid" and
// an "alg" fixed by its type, so that the token server never takes an
// algorithm from an assertion's header.
//
// The input is untrusted (it comes from a user's YAML), so parsing is
// bounded and fuzzed.
package publickeys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signet-iam/signet/internal/signing"
)

// Limits on supplied key material.
const (
	// MaxKeys is the most keys one client may register.
	MaxKeys = 8
	// MaxInputBytes bounds the PEM or JWKS text.
	MaxInputBytes = 64 << 10
	// MinRSABits is the smallest RSA modulus accepted.
	MinRSABits = 2048
	// MaxRSABits bounds RSA keys, whose verification cost grows with size.
	MaxRSABits = 8192
)

// Key is one normalised public key.
type Key struct {
	// ID is the JWK "kid": the supplied one, or the RFC 7638 thumbprint.
	ID string
	// Algorithm is the only JWS algorithm accepted for this key.
	Algorithm string
	// JWK is the key as JSON, with kid, alg and use set.
	JWK json.RawMessage
}

// ParsePEM parses one or more PEM "PUBLIC KEY" blocks.
func ParsePEM(text string) ([]Key, error) {
	if len(text) > MaxInputBytes {
		return nil, fmt.Errorf("publicKeys.pem is larger than %d bytes", MaxInputBytes)
	}
	var keys []Key
	rest := []byte(text)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			return nil, blockError(len(keys)+1, block.Type)
		}
		if len(keys) == MaxKeys {
			return nil, fmt.Errorf("publicKeys holds more than %d keys", MaxKeys)
		}
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("publicKeys.pem key %d is not a valid PKIX public key", len(keys)+1)
		}
		k, err := normalise(pub, "", "")
		if err != nil {
			return nil, fmt.Errorf("publicKeys.pem key %d: %w", len(keys)+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, errors.New("publicKeys.pem holds no PUBLIC KEY block")
	}
	return keys, checkUniqueIDs(keys)
}

// ParseJWKS parses a JSON Web Key Set of public keys.
func ParseJWKS(text string) ([]Key, error) {
	if len(text) > MaxInputBytes {
		return nil, fmt.Errorf("publicKeys.jwks is larger than %d bytes", MaxInputBytes)
	}
	var raw struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return nil, errors.New("publicKeys.jwks is not a JSON object with a \"keys\" array")
	}
	if len(raw.Keys) == 0 {
		return nil, errors.New("publicKeys.jwks holds no keys")
	}
	if len(raw.Keys) > MaxKeys {
		return nil, fmt.Errorf("publicKeys holds more than %d keys", MaxKeys)
	}
	keys := make([]Key, 0, len(raw.Keys))
	for i, data := range raw.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("publicKeys.jwks key %d is not a valid JWK", i+1)
		}
		if !jwk.IsPublic() {
			return nil, fmt.Errorf("publicKeys.jwks key %d is a private key; supply only the public key", i+1)
		}
		if jwk.Use != "" && jwk.Use != "sig" {
			return nil, fmt.Errorf("publicKeys.jwks key %d is not a signature key; set its use to sig or remove use", i+1)
		}
		k, err := normalise(jwk.Key, jwk.KeyID, jwk.Algorithm)
		if err != nil {
			return nil, fmt.Errorf("publicKeys.jwks key %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, checkUniqueIDs(keys)
}

// algorithmsFor lists the algorithms a key type may sign with, default first.
func algorithmsFor(pub crypto.PublicKey) ([]string, error) {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		}
		return nil, errors.New("EC keys must use curve P-256 or P-384")
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	case *rsa.PublicKey:
		if bits := p.N.BitLen(); bits < MinRSABits || bits > MaxRSABits {
			return nil, fmt.Errorf("RSA keys must have %d to %d bits, this one has %d", MinRSABits, MaxRSABits, bits)
		}
		return []string{"RS256", "PS256"}, nil
	}
	return nil, errors.New("unsupported key type; use EC P-256/P-384, Ed25519 or RSA")
}

func normalise(pub crypto.PublicKey, kid, alg string) (Key, error) {
	algs, err := algorithmsFor(pub)
	if err != nil {
		return Key{}, err
	}
	switch {
	case alg == "":
		alg = algs[0]
	case !contains(algs, alg):
		return Key{}, fmt.Errorf("its alg does not fit the key type; set alg to one of %v or remove it", algs)
	}
	if kid == "" {
		if kid, err = signing.Thumbprint(pub); err != nil {
			return Key{}, err
		}
	}
	if len(kid) > 128 {
		return Key{}, errors.New("kid is longer than 128 characters")
	}
	data, err := jose.JSONWebKey{Key: pub, KeyID: kid, Algorithm: alg, Use: "sig"}.MarshalJSON()
	if err != nil {
		return Key{}, fmt.Errorf("encoding key: %w", err)
	}
	return Key{ID: kid, Algorithm: alg, JWK: data}, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func checkUniqueIDs(keys []Key) error {
	seen := make(map[string]int, len(keys))
	for i, k := range keys {
		if first, ok := seen[k.ID]; ok {
			return fmt.Errorf("publicKeys keys %d and %d have the same kid (or are the same key); give each key its own kid", first, i+1)
		}
		seen[k.ID] = i + 1
	}
	return nil
}

// blockError describes a PEM block that is not a public key without
// repeating any of it: a user-supplied block type is shown only when it is
// one of the well-known ones.
func blockError(n int, blockType string) error {
	if strings.Contains(blockType, "PRIVATE KEY") {
		return fmt.Errorf("publicKeys.pem block %d is a private key, which must never leave the client; replace it with its public key (openssl pkey -in client.key -pubout) and treat the private key as exposed", n)
	}
	return fmt.Errorf("publicKeys.pem block %d is not a PUBLIC KEY block (a certificate or other PEM type?); only PUBLIC KEY blocks are accepted", n)
}

// GeneratePrivateKeyPEM returns a new P-256 key pair for a PrivateKeyJWT
// client, as a PKCS #8 PEM for the workload Secret.
func GeneratePrivateKeyPEM() (string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("generating key pair: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", fmt.Errorf("encoding key pair: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), nil
}

// FromPrivateKeyPEM returns the public half of a generated key pair. Its
// errors never include the key.
func FromPrivateKeyPEM(text string) (Key, error) {
	block, _ := pem.Decode([]byte(text))
	if block == nil || block.Type != "PRIVATE KEY" {
		return Key{}, errors.New("private_key.pem is not a PEM PRIVATE KEY block")
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Key{}, errors.New("private_key.pem is not a valid PKCS #8 key")
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return Key{}, errors.New("private_key.pem cannot sign")
	}
	return normalise(signer.Public(), "", "")
}
