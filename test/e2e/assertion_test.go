//go:build e2e

package e2e

import (
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/signet-iam/signet/docs/examples/assertion"
)

// TestAssertionExample runs docs/examples/assertion, the Go code of the Dfns
// how-to, against the real token server: every request signs a fresh
// assertion, so every refresh works, while the fixed-assertion pattern the
// how-to warns against fails on its second token; an assertion addressed to
// the token URL instead of the issuer is refused.
func TestAssertionExample(t *testing.T) {
	ns := scenario(t, "dfns-public-key-account.yaml")
	data := workloadSecret(t, ns, "treasury-signer", "client_id")
	key, err := assertion.ReadKey(filepath.Join(root, "test", "e2e", "testdata", "dfns-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	signer := assertion.Signer{ClientID: data["client_id"], Issuer: data["issuer"], Key: key}
	ctx := t.Context()

	var first *oauth2.Token
	waitFor(t, 10*time.Second, "a token through assertion.TokenSource", func() (err error) {
		first, err = assertion.TokenSource(ctx, signer, data["token_url"]).Token()
		return err
	})
	if claims := verify(t, first.AccessToken); claims["client_id"] != data["client_id"] || claims["scope"] != "wallets:read wallets:sign" {
		t.Errorf("claims %v", claims)
	}
	fresh := assertion.Fresh(ctx, signer, data["token_url"], "wallets:read")
	for i := range 3 {
		tok, err := fresh.Token()
		if err != nil {
			t.Fatalf("refresh %d with a freshly signed assertion: %v", i+1, err)
		}
		if verify(t, tok.AccessToken)["scope"] != "wallets:read" {
			t.Errorf("refresh %d: scope not narrowed", i+1)
		}
	}

	// The pattern the how-to warns against: one assertion in EndpointParams.
	signed, err := signer.Sign()
	if err != nil {
		t.Fatal(err)
	}
	fixed := clientcredentials.Config{
		ClientID: data["client_id"], TokenURL: data["token_url"], AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"client_assertion_type": {assertion.JWTBearer}, "client_assertion": {signed}},
	}
	if _, err := fixed.Token(ctx); err != nil {
		t.Fatalf("first token with a fixed assertion: %v", err)
	}
	if err := refusedWith(func() error { _, err := fixed.Token(ctx); return err }(), "invalid_client"); err != nil {
		t.Errorf("second token with the same fixed assertion: %v", err)
	}

	wrongAud := signer
	wrongAud.Issuer = data["token_url"]
	if err := refusedWith(func() error { _, err := assertion.Fresh(ctx, wrongAud, data["token_url"]).Token(); return err }(), "invalid_client"); err != nil {
		t.Errorf("an assertion addressed to the token URL: %v", err)
	}
}
