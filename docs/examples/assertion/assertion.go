// Package assertion is the example from docs/howto/dfns-public-key.md: how a
// private_key_jwt client (RFC 7523) signs its client assertions and gets
// tokens from Signet with Go's stock clientcredentials package. It compiles
// in CI, and the end-to-end tests run it against the real token server.
//
// An assertion is accepted once: its jti is remembered until its exp. A
// client must therefore sign a fresh one for every token request, which is
// what TokenSource does. A fixed client_assertion in EndpointParams works
// for the first token only, and every refresh is refused.
package assertion

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// JWTBearer is the client_assertion_type of RFC 7523.
const JWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Lifetime is how long a signed assertion is valid. Signet accepts at most
// five minutes; a short lifetime also keeps the jti it must remember few.
const Lifetime = 2 * time.Minute

// Signer signs assertions for one client.
type Signer struct {
	// ClientID is the client_id from the workload Secret: the assertion's
	// iss and sub.
	ClientID string
	// Issuer is the issuer from the workload Secret: the assertion's aud.
	// It is the issuer, not the token URL; Signet refuses an assertion
	// addressed to the token URL (CVE-2025-27370).
	Issuer string
	// Key is the private key whose public half is in the ClientCredential's
	// spec.publicKeys.
	Key crypto.Signer
	// KeyID, when set, is the JWS "kid" header: the key's kid in the JWKS,
	// or its RFC 7638 thumbprint. Unset lets Signet try each of the
	// client's keys.
	KeyID string
}

// Sign returns a fresh assertion: a new random jti, iat now, exp Lifetime
// ahead.
func (s Signer) Sign() (string, error) {
	method, err := methodFor(s.Key)
	if err != nil {
		return "", err
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Issuer:    s.ClientID,
		Subject:   s.ClientID,
		Audience:  jwt.ClaimStrings{s.Issuer}, // one audience is encoded as a single string
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(Lifetime)),
		ID:        hex.EncodeToString(jti),
	}
	token := jwt.NewWithClaims(method, claims)
	if s.KeyID != "" {
		token.Header["kid"] = s.KeyID
	}
	return token.SignedString(s.Key)
}

// methodFor picks the JWS algorithm Signet fixes for the key's type.
func methodFor(key crypto.Signer) (jwt.SigningMethod, error) {
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		switch k.Curve.Params().BitSize {
		case 256:
			return jwt.SigningMethodES256, nil
		case 384:
			return jwt.SigningMethodES384, nil
		}
	case ed25519.PublicKey:
		return jwt.SigningMethodEdDSA, nil
	case *rsa.PublicKey:
		return jwt.SigningMethodRS256, nil
	}
	return nil, errors.New("unsupported key: use EC P-256 or P-384, Ed25519 or RSA")
}

// TokenSource returns a token source that signs a fresh assertion for each
// token request and reuses each token until shortly before it expires,
// like clientcredentials.Config.TokenSource does for a client secret.
// tokenURL is token_url from the workload Secret; scopes may narrow the
// grant.
func TokenSource(ctx context.Context, s Signer, tokenURL string, scopes ...string) oauth2.TokenSource {
	return oauth2.ReuseTokenSource(nil, Fresh(ctx, s, tokenURL, scopes...))
}

// Fresh returns a token source that requests a new token, with a newly
// signed assertion, on every call. TokenSource wraps it so that a token is
// reused while it is valid.
func Fresh(ctx context.Context, s Signer, tokenURL string, scopes ...string) oauth2.TokenSource {
	return &freshSource{ctx: ctx, signer: s, tokenURL: tokenURL, scopes: scopes}
}

// freshSource requests a new token, with a new assertion, on every call.
type freshSource struct {
	ctx      context.Context
	signer   Signer
	tokenURL string
	scopes   []string
}

func (f *freshSource) Token() (*oauth2.Token, error) {
	signed, err := f.signer.Sign()
	if err != nil {
		return nil, fmt.Errorf("signing the client assertion: %w", err)
	}
	cfg := clientcredentials.Config{
		ClientID:  f.signer.ClientID,
		TokenURL:  f.tokenURL,
		Scopes:    f.scopes,
		AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"client_assertion_type": {JWTBearer},
			"client_assertion":      {signed},
		},
	}
	return cfg.Token(f.ctx)
}

// ReadKey reads a PEM private key: PKCS #8 ("PRIVATE KEY"), SEC 1
// ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY").
func ReadKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block", path)
	}
	var key any
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s holds a %s block, not a private key", path, block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: the key cannot sign", path)
	}
	return signer, nil
}
