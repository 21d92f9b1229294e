//go:build e2e

package e2e

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
)

// verify checks a token the way an API would: discovery, JWKS, signature,
// issuer and expiry through go-oidc, then returns its claims.
func verify(t *testing.T, raw string) map[string]any {
	t.Helper()
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, signet.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	tok, err := provider.Verifier(&oidc.Config{SkipClientIDCheck: true}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("go-oidc rejected the token: %v", err)
	}
	claims := map[string]any{}
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// introspect asks the token server whether token is active, authenticating
// as caller.
func introspect(caller map[string]string, token string) (bool, error) {
	return introspectAt(signet.Issuer, caller, token)
}

// postForm posts a token request and decodes the JSON answer.
func postForm(form url.Values) (int, map[string]any, error) {
	resp, err := http.PostForm(signet.Issuer+"/oauth2/token", form)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body := map[string]any{}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err := json.Unmarshal(data, &body); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("response is not JSON: %s", data)
	}
	return resp.StatusCode, body, nil
}

// refusedWith reports whether a token request failed with the OAuth2 error code.
func refusedWith(err error, code string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("want an OAuth2 error %q, got %v", code, err)
	}
	if re.ErrorCode != code {
		return fmt.Errorf("want %q, got %q (%s)", code, re.ErrorCode, re.ErrorDescription)
	}
	return nil
}

// clientAssertion signs an RFC 7523 client assertion with the Dfns sample's
// private key (a test fixture; its public half is in the sample).
func clientAssertion(t *testing.T, clientID string) string {
	t.Helper()
	pemData, err := os.ReadFile(filepath.Join(root, "test", "e2e", "testdata", "dfns-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwt.ParseECPrivateKeyFromPEM(pemData)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Issuer: clientID, Subject: clientID, Audience: jwt.ClaimStrings{signet.Issuer},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(2 * time.Minute)),
		ID: fmt.Sprintf("e2e-%d", now.UnixNano()),
	}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(crypto.Signer(key))
	if err != nil {
		t.Fatal(err)
	}
	return signed
}
