// Package signing defines the signing key set the manager rotates and the
// token server signs with: its Secret format, key generation, the rotation
// schedule, and the JWKS that APIs verify tokens with.
//
// Rotation follows the publish-then-sign rule: a new key appears in the JWKS
// for a lead time before it signs, so every verifier that refreshes its JWKS
// in that window already knows it; a retired key stays in the JWKS,
// verification-only, until the last token it signed has expired.
package signing

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Algorithms Signet signs access tokens with.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

// Algorithms lists the accepted algorithm names, default first.
var Algorithms = []string{ES256, EdDSA, RS256}

// Key is one signing key and its schedule.
type Key struct {
	// ID is the JWS "kid".
	ID string `json:"kid"`
	// Algorithm is the JWS "alg" the key signs with; fixed per key.
	Algorithm string `json:"alg"`
	// PrivateKeyPEM is the PKCS #8 private key.
	PrivateKeyPEM string `json:"privateKey"`
	// PublishAt is when the key enters the JWKS.
	PublishAt time.Time `json:"publishAt"`
	// SignFrom is when the key starts signing. It is PublishAt plus the
	// publish lead, except for the very first key.
	SignFrom time.Time `json:"signFrom"`
	// SignUntil is when the key stops signing; unset while it is current.
	SignUntil *time.Time `json:"signUntil,omitempty"`
	// VerifyUntil is when the key leaves the JWKS: SignUntil plus the
	// longest token lifetime. Unset while it is current.
	VerifyUntil *time.Time `json:"verifyUntil,omitempty"`

	signer crypto.Signer
}

// KeySet is the content of the signing key Secret.
type KeySet struct {
	Keys []*Key `json:"keys"`
}

// Marshal encodes the key set for its Secret.
func (s *KeySet) Marshal() ([]byte, error) { return json.Marshal(s) }

// Parse decodes a key set and parses every private key. Errors never
// include key material.
func Parse(data []byte) (*KeySet, error) {
	var s KeySet
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, errors.New("signing key set is not valid JSON")
	}
	for i, k := range s.Keys {
		// A null entry would otherwise reach parse as a nil *Key and
		// panic every reader of the Secret.
		if k == nil {
			return nil, fmt.Errorf("signing key %d is null", i)
		}
		if err := k.parse(); err != nil {
			return nil, fmt.Errorf("signing key %q: %w", k.ID, err)
		}
	}
	return &s, nil
}

func (k *Key) parse() error {
	block, _ := pem.Decode([]byte(k.PrivateKeyPEM))
	if block == nil || block.Type != "PRIVATE KEY" {
		return errors.New("private key is not a PEM PRIVATE KEY block")
	}
	priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return errors.New("private key is not valid PKCS #8")
	}
	signer, ok := priv.(crypto.Signer)
	if !ok {
		return errors.New("private key cannot sign")
	}
	if err := checkAlgorithm(k.Algorithm, signer.Public()); err != nil {
		return err
	}
	k.signer = signer
	return nil
}

func checkAlgorithm(alg string, pub crypto.PublicKey) error {
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if alg == ES256 && p.Curve == elliptic.P256() {
			return nil
		}
	case ed25519.PublicKey:
		if alg == EdDSA {
			return nil
		}
	case *rsa.PublicKey:
		if alg == RS256 && p.N.BitLen() >= 2048 {
			return nil
		}
	}
	return fmt.Errorf("algorithm %q does not match the key type", alg)
}

// Signer is the key's private key, set by Parse or NewKey.
func (k *Key) Signer() crypto.Signer { return k.signer }

// NewKey generates a key for alg with the given schedule.
func NewKey(alg string, publishAt, signFrom time.Time) (*Key, error) {
	var (
		signer crypto.Signer
		err    error
	)
	switch alg {
	case ES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	case RS256:
		signer, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q (use one of %v)", alg, Algorithms)
	}
	if err != nil {
		return nil, fmt.Errorf("generating %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(signer)
	if err != nil {
		return nil, fmt.Errorf("encoding %s key: %w", alg, err)
	}
	kid, err := Thumbprint(signer.Public())
	if err != nil {
		return nil, err
	}
	return &Key{
		ID:            kid,
		Algorithm:     alg,
		PrivateKeyPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		PublishAt:     publishAt.UTC().Truncate(time.Second),
		SignFrom:      signFrom.UTC().Truncate(time.Second),
		signer:        signer,
	}, nil
}

// Thumbprint is the RFC 7638 JWK thumbprint of a public key, base64url: the
// key ID Signet gives keys it generates.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	jwk := jose.JSONWebKey{Key: pub}
	tp, err := jwk.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("computing key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// Current returns the key that signs at now: of the keys whose signing window
// contains now, the one that started last. Nil means no key may sign.
func (s *KeySet) Current(now time.Time) *Key {
	var cur *Key
	for _, k := range s.Keys {
		if now.Before(k.SignFrom) || (k.SignUntil != nil && !now.Before(*k.SignUntil)) {
			continue
		}
		if cur == nil || k.SignFrom.After(cur.SignFrom) {
			cur = k
		}
	}
	return cur
}

// Published returns the keys in the JWKS at now, oldest first.
func (s *KeySet) Published(now time.Time) []*Key {
	var out []*Key
	for _, k := range s.Keys {
		if now.Before(k.PublishAt) || (k.VerifyUntil != nil && !now.Before(*k.VerifyUntil)) {
			continue
		}
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PublishAt.Before(out[j].PublishAt) })
	return out
}

// Lookup returns the published key with the given kid at now.
func (s *KeySet) Lookup(kid string, now time.Time) *Key {
	for _, k := range s.Published(now) {
		if k.ID == kid {
			return k
		}
	}
	return nil
}

// JWKS renders the public keys published at now as a JSON Web Key Set.
func (s *KeySet) JWKS(now time.Time) ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	for _, k := range s.Published(now) {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.signer.Public(), KeyID: k.ID, Algorithm: k.Algorithm, Use: "sig"})
	}
	return json.Marshal(set)
}
