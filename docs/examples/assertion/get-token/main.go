// Command get-token gets an access token for a private_key_jwt client: it
// signs a fresh client assertion with a private key and posts it to the
// token endpoint, as docs/howto/dfns-public-key.md shows.
//
//	go run ./docs/examples/assertion/get-token -key client.key \
//	  -client-id "$CLIENT_ID" -issuer "$ISSUER" -token-url "$TOKEN_URL"
//
// It prints the access token. With -assertion it prints a signed assertion
// instead, for use with curl.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/signet-iam/signet/docs/examples/assertion"
)

func main() {
	var (
		keyPath, tokenURL, scope string
		signer                   assertion.Signer
		only                     bool
	)
	flag.StringVar(&keyPath, "key", "", "PEM file with the client's private key")
	flag.StringVar(&signer.ClientID, "client-id", os.Getenv("CLIENT_ID"), "client_id (default $CLIENT_ID)")
	flag.StringVar(&signer.Issuer, "issuer", os.Getenv("ISSUER"), "issuer, the assertion's aud (default $ISSUER)")
	flag.StringVar(&signer.KeyID, "kid", "", "kid header (optional)")
	flag.StringVar(&tokenURL, "token-url", os.Getenv("TOKEN_URL"), "token endpoint (default $TOKEN_URL)")
	flag.StringVar(&scope, "scope", "", "scope to ask for (optional; default the whole grant)")
	flag.BoolVar(&only, "assertion", false, "print a signed assertion instead of getting a token")
	flag.Parse()
	if err := run(keyPath, tokenURL, scope, signer, only); err != nil {
		fmt.Fprintln(os.Stderr, "get-token:", err)
		os.Exit(1)
	}
}

func run(keyPath, tokenURL, scope string, signer assertion.Signer, only bool) error {
	if keyPath == "" || signer.ClientID == "" || signer.Issuer == "" || (!only && tokenURL == "") {
		return fmt.Errorf("-key, -client-id and -issuer are required, and -token-url unless -assertion is set")
	}
	key, err := assertion.ReadKey(keyPath)
	if err != nil {
		return err
	}
	signer.Key = key
	if only {
		signed, err := signer.Sign()
		if err != nil {
			return err
		}
		fmt.Println(signed)
		return nil
	}
	var scopes []string
	if scope != "" {
		scopes = []string{scope}
	}
	tok, err := assertion.TokenSource(context.Background(), signer, tokenURL, scopes...).Token()
	if err != nil {
		return err
	}
	fmt.Println(tok.AccessToken)
	return nil
}
