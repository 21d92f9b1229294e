package v1alpha1_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestPastedPrivateKeyIsRefusedWithoutEcho submits freshly generated private
// keys, in every PEM form and next to a valid public key, as
// spec.publicKeys.pem, on create and on update. The API server must refuse
// each, name the field and the fix, and repeat no line of the key
// (SECURITY.md item 19).
func TestPastedPrivateKeyIsRefusedWithoutEcho(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(ec)
	sec1, _ := x509.MarshalECPrivateKey(ec)
	pubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	public := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}))
	keys := map[string]string{
		"PKCS #8":            string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
		"SEC 1":              string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})),
		"PKCS #1":            string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})),
		"after a public key": public + string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
	}
	ns := newNamespace(t)
	ctx := context.Background()
	existing := decode(t, validObjects["a PrivateKeyJWT credential with a supplied PEM key is accepted"], ns)
	if err := k8s.Create(ctx, existing); err != nil {
		t.Fatal(err)
	}
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			obj := existing.DeepCopy()
			obj.SetName("pasted-private-key")
			obj.SetResourceVersion("")
			_ = unstructured.SetNestedField(obj.Object, key, "spec", "publicKeys", "pem")
			assertRefusedWithoutEcho(t, k8s.Create(ctx, obj), key)

			update := existing.DeepCopy()
			_ = unstructured.SetNestedField(update.Object, key, "spec", "publicKeys", "pem")
			assertRefusedWithoutEcho(t, k8s.Update(ctx, update), key)
		})
	}
}

func assertRefusedWithoutEcho(t *testing.T, err error, key string) {
	t.Helper()
	if err == nil {
		t.Fatal("the API server accepted a private key in spec.publicKeys.pem")
	}
	msg := err.Error()
	for _, want := range []string{"spec.publicKeys.pem", "paste only the public key", "treat the pasted private key as exposed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the refusal does not say %q: %s", want, msg)
		}
	}
	for _, line := range strings.Split(key, "\n") {
		if len(line) >= 8 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line) {
			t.Errorf("the refusal repeats a line of the key: %s", msg)
		}
	}
}
