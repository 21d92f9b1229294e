package publickeys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func pemOf(t testing.TB, pub any) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func TestParsePEM(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	ec521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	privDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	privPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}))

	tests := map[string]struct {
		pem      string
		wantAlgs []string
		wantErr  string
	}{
		"a P-256 key signs with ES256":         {pemOf(t, &ec.PublicKey), []string{"ES256"}, ""},
		"a P-384 key signs with ES384":         {pemOf(t, &ec384.PublicKey), []string{"ES384"}, ""},
		"an Ed25519 key signs with EdDSA":      {pemOf(t, edPub), []string{"EdDSA"}, ""},
		"an RSA 2048 key signs with RS256":     {pemOf(t, &rsa2048.PublicKey), []string{"RS256"}, ""},
		"several keys are all kept, in order":  {pemOf(t, &ec.PublicKey) + pemOf(t, edPub), []string{"ES256", "EdDSA"}, ""},
		"a P-521 key is refused":               {pemOf(t, &ec521.PublicKey), nil, "curve P-256 or P-384"},
		"an RSA 1024 key is refused":           {pemOf(t, &rsa1024.PublicKey), nil, "2048 to 8192 bits"},
		"a private key is refused":             {privPEM, nil, "block 1 is a private key"},
		"text without PEM is refused":          {"hello", nil, "no PUBLIC KEY block"},
		"the same key twice is refused":        {pemOf(t, &ec.PublicKey) + pemOf(t, &ec.PublicKey), nil, "keys 1 and 2 have the same kid"},
		"a corrupt block is refused":           {"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", nil, "not a valid PKIX public key"},
		"more than the key limit is refused":   {strings.Repeat(pemOf(t, edPub), MaxKeys+1), nil, "more than 8 keys"},
		"input over the size limit is refused": {strings.Repeat("x", MaxInputBytes+1), nil, "larger than"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			keys, err := ParsePEM(tc.pem)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(tc.wantAlgs) {
				t.Fatalf("got %d keys, want %d", len(keys), len(tc.wantAlgs))
			}
			for i, k := range keys {
				assertNormalised(t, k, tc.wantAlgs[i])
			}
		})
	}
}

// assertNormalised checks that the stored JWK carries the fixed kid and alg
// and round-trips as a public key.
func assertNormalised(t *testing.T, k Key, alg string) {
	t.Helper()
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(k.JWK); err != nil {
		t.Fatal(err)
	}
	if k.Algorithm != alg || jwk.Algorithm != alg {
		t.Errorf("alg = %q / %q, want %q", k.Algorithm, jwk.Algorithm, alg)
	}
	if k.ID == "" || jwk.KeyID != k.ID || jwk.Use != "sig" || !jwk.IsPublic() {
		t.Errorf("JWK not normalised: %s", k.JWK)
	}
}

func TestParseJWKS(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwkJSON := func(key any, kid, alg, use string) string {
		b, err := jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: use}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	set := func(keys ...string) string { return `{"keys":[` + strings.Join(keys, ",") + `]}` }

	keys, err := ParseJWKS(set(jwkJSON(&ec.PublicKey, "client-key-1", "", "")))
	if err != nil {
		t.Fatal(err)
	}
	assertNormalised(t, keys[0], "ES256")
	if keys[0].ID != "client-key-1" {
		t.Errorf("supplied kid not kept: %q", keys[0].ID)
	}

	for name, tc := range map[string]struct{ jwks, wantErr string }{
		"a private JWK is refused":            {set(jwkJSON(ec, "k", "", "")), "is a private key"},
		"an alg that does not fit is refused": {set(jwkJSON(&ec.PublicKey, "k", "RS256", "")), "key 1: its alg does not fit the key type"},
		"an HMAC alg is refused":              {set(jwkJSON(&ec.PublicKey, "k", "HS256", "")), "key 1: its alg does not fit the key type"},
		"an encryption key is refused":        {set(jwkJSON(&ec.PublicKey, "k", "", "enc")), "key 1 is not a signature key"},
		"an empty set is refused":             {`{"keys":[]}`, "holds no keys"},
		"a bare JWK is refused":               {jwkJSON(&ec.PublicKey, "k", "", ""), "holds no keys"},
		"a symmetric key is refused":          {`{"keys":[{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0"}]}`, "key 1"},
		"not JSON is refused":                 {`keys`, `not a JSON object`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseJWKS(tc.jwks)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestGeneratedKeyPairRoundTrips(t *testing.T) {
	privPEM, err := GeneratePrivateKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	k, err := FromPrivateKeyPEM(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	assertNormalised(t, k, "ES256")
	var jwk jose.JSONWebKey
	_ = json.Unmarshal(k.JWK, &jwk)
	if strings.Contains(string(k.JWK), `"d"`) {
		t.Fatal("public JWK contains the private exponent")
	}
	if _, err := FromPrivateKeyPEM("garbage"); err == nil || strings.Contains(err.Error(), "garbage") {
		t.Fatalf("bad PEM error %v must exist and not echo the input", err)
	}
}

// FuzzParse feeds arbitrary text to both parsers: they must never panic, and
// whatever they accept must be normalised.
func FuzzParse(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Add(pemOf(f, &ec.PublicKey))
	f.Add(`{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	f.Add(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]}`)
	f.Add("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----")
	f.Fuzz(func(t *testing.T, text string) {
		for _, parse := range []func(string) ([]Key, error){ParsePEM, ParseJWKS} {
			keys, err := parse(text)
			if err != nil {
				continue
			}
			for _, k := range keys {
				if k.ID == "" || k.Algorithm == "" || len(k.JWK) == 0 {
					t.Fatalf("accepted a key without kid/alg: %+v", k)
				}
			}
		}
	})
}

// TestErrorsNeverRepeatTheInput: the parser's errors reach a condition
// message, so none may carry any part of what was supplied, be it a key, a
// block type, a kid, an alg or a use.
func TestErrorsNeverRepeatTheInput(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	pub := pemOf(t, &ec.PublicKey)
	jwk := func(kid, alg, use string) string {
		b, err := jose.JSONWebKey{Key: &ec.PublicKey, KeyID: kid, Algorithm: alg, Use: use}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return `{"keys":[` + string(b) + `]}`
	}
	privBody := strings.Split(string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})), "\n")[1]
	for name, tc := range map[string]struct{ pem, jwks, secret string }{
		"a private key after a public key": {pem: pub + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})), secret: privBody},
		"an odd block type":                {pem: string(pem.EncodeToMemory(&pem.Block{Type: "QZ SECRET 4711", Bytes: privDER})), secret: "QZ SECRET"},
		"a kid used twice":                 {jwks: `{"keys":[` + strings.TrimSuffix(strings.TrimPrefix(jwk("qz-kid-4711", "", ""), `{"keys":[`), "]}") + `,` + strings.TrimSuffix(strings.TrimPrefix(jwk("qz-kid-4711", "", ""), `{"keys":[`), "]}") + `]}`, secret: "qz-kid-4711"},
		"an alg that does not fit":         {jwks: jwk("k", "QZ4711", ""), secret: "QZ4711"},
		"a use that is not sig":            {jwks: jwk("k", "", "qz4711"), secret: "qz4711"},
	} {
		t.Run(name, func(t *testing.T) {
			var err error
			if tc.pem != "" {
				_, err = ParsePEM(tc.pem)
			} else {
				_, err = ParseJWKS(tc.jwks)
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Fatalf("error repeats the input %q: %v", tc.secret, err)
			}
		})
	}
}
