package main

import (
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/tokenserver/fixture"
)

func signAssertion(t *testing.T, cl *fixture.Client) string {
	t.Helper()
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(cl.Algorithm), jwt.MapClaims{
		"iss": cl.ID(), "sub": cl.ID(), "aud": testIssuer, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti),
	})
	tok.Header["kid"] = cl.KeyID
	s, err := tok.SignedString(cl.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
