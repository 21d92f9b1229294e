package kubectlsignet

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/spf13/cobra"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// Grant types and parameters of the Signet token server
// (internal/tokenserver; this package does not import it).
const (
	grantAPIKey            = "urn:signet:params:oauth:grant-type:apikey"
	assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// assertionLifetime is well inside the token server's bound on exp.
	assertionLifetime = time.Minute
)

type tokenOptions struct {
	*options
	scopes    []string
	audiences []string
	tokenURL  string
	decode    bool
	output    string
}

func newTokenCommand(o *options) *cobra.Command {
	t := &tokenOptions{options: o}
	cmd := &cobra.Command{
		Use:   "token CREDENTIAL",
		Short: "Get an access token with a ClientCredential's workload Secret",
		Long: `Get an access token from the Signet token server, authenticating the way a
workload does: with the client secret, API key or private key in the
ClientCredential's workload Secret. Prints the token, or with --decode its
header and claims (not verified: use "kubectl signet inspect" for that).

Reading the workload Secret needs "get" on Secrets in the namespace.`,
		Example: `  kubectl signet token -n payments billing-api
  kubectl signet token billing-api --scope orders:read --decode
  kubectl signet token billing-api --token-url http://127.0.0.1:8080/oauth2/token`,
		Args:              exactOneArg("CREDENTIAL"),
		ValidArgsFunction: completeNames(o, credentialKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			return t.run(cmd.Context(), cmd, args[0])
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&t.scopes, "scope", nil, "Scopes to ask for (a subset of the account's grants); default all granted scopes.")
	f.StringSliceVar(&t.audiences, "audience", nil, "Audiences (RFC 8707 resources) to ask for; default the server's.")
	f.StringVar(&t.tokenURL, "token-url", "", "Token endpoint to use instead of the Secret's token_url (for example through kubectl port-forward).")
	f.BoolVar(&t.decode, "decode", false, "Print the token's header and claims as JSON instead of the token.")
	f.StringVarP(&t.output, "output", "o", "", "Output format: empty (the token only), json or yaml (the whole token response).")
	return cmd
}

// tokenResponse is what the token endpoint answered, as printed by -o json.
type tokenResponse struct {
	AccessToken string    `json:"access_token"`
	TokenType   string    `json:"token_type"`
	ExpiresIn   int64     `json:"expires_in,omitempty"`
	Scope       string    `json:"scope,omitempty"`
	Expiry      time.Time `json:"expiry,omitzero"`
}

func (t *tokenOptions) run(ctx context.Context, cmd *cobra.Command, name string) error {
	if t.output != "" && t.output != "json" && t.output != "yaml" {
		return usageError{fmt.Errorf("--output must be json or yaml, not %q", t.output)}
	}
	if t.decode && t.output != "" {
		return usageError{errors.New("--decode and --output cannot be used together")}
	}
	ns, err := t.namespace()
	if err != nil {
		return err
	}
	c, _, err := t.clients()
	if err != nil {
		return err
	}
	w, err := loadWorkload(ctx, c, ns, name)
	if err != nil {
		return err
	}
	tokenURL := w.data[keyTokenURL]
	if t.tokenURL != "" {
		tokenURL = t.tokenURL
	}
	tok, err := requestToken(ctx, w, tokenURL, t.scopes, t.audiences)
	if err != nil {
		return err
	}
	switch {
	case t.decode:
		parts, err := decodeJWT(tok.AccessToken)
		if err != nil {
			return fmt.Errorf("the token server returned a token that is not a JWT: %w", err)
		}
		return printStructured(cmd.OutOrStdout(), "json", parts)
	case t.output != "":
		return printStructured(cmd.OutOrStdout(), t.output, tok)
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), tok.AccessToken)
	return err
}

// requestToken authenticates with the workload Secret's credential through
// x/oauth2's client_credentials client, which also carries the API-key
// grant (grant_type may be overridden) and private_key_jwt (parameters).
func requestToken(ctx context.Context, w *workload, tokenURL string, scopes, audiences []string) (*tokenResponse, error) {
	cfg := clientcredentials.Config{TokenURL: tokenURL, Scopes: scopes, EndpointParams: map[string][]string{}}
	if len(audiences) > 0 {
		cfg.EndpointParams["resource"] = audiences
	}
	switch {
	case w.data[keyClientSecret] != "":
		cfg.ClientID, cfg.ClientSecret = w.data[keyClientID], w.data[keyClientSecret]
		cfg.AuthStyle = oauth2.AuthStyleInHeader
	case w.data[keyAPIKey] != "":
		cfg.AuthStyle = oauth2.AuthStyleInParams
		cfg.EndpointParams["grant_type"] = []string{grantAPIKey}
		cfg.EndpointParams["apikey"] = []string{w.data[keyAPIKey]}
	case w.data[keyPrivateKey] != "":
		assertion, err := signAssertion(w.data[keyPrivateKey], w.data[keyKeyID], w.data[keyClientID], w.data[keyIssuer])
		if err != nil {
			return nil, err
		}
		cfg.ClientID, cfg.AuthStyle = w.data[keyClientID], oauth2.AuthStyleInParams
		cfg.EndpointParams["client_assertion_type"] = []string{assertionTypeJWTBearer}
		cfg.EndpointParams["client_assertion"] = []string{assertion}
	case w.obj.Spec.Type == iamv1.PrivateKeyJWTType:
		return nil, fmt.Errorf("ClientCredential %q uses public keys you supplied: its private key is not in the cluster, so sign a client assertion yourself (see docs/howto)", w.obj.Name)
	default:
		return nil, fmt.Errorf("the workload Secret of ClientCredential %q holds no %s, %s or %s (revoked?); see: kubectl signet status clientcredential/%s",
			w.obj.Name, keyClientSecret, keyAPIKey, keyPrivateKey, w.obj.Name)
	}
	tok, err := cfg.Token(ctx)
	if err != nil {
		return nil, explainTokenError(err, tokenURL)
	}
	out := &tokenResponse{AccessToken: tok.AccessToken, TokenType: tok.TokenType, ExpiresIn: tok.ExpiresIn, Expiry: tok.Expiry}
	if s, ok := tok.Extra("scope").(string); ok {
		out.Scope = s
	}
	return out, nil
}

// explainTokenError turns an OAuth2 refusal into one line with the RFC 6749
// error code and the server's description.
func explainTokenError(err error, tokenURL string) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode != "" {
		msg := fmt.Sprintf("the token server refused: %s", re.ErrorCode)
		if re.ErrorDescription != "" {
			msg += ": " + re.ErrorDescription
		}
		return errors.New(msg)
	}
	return fmt.Errorf("requesting a token from %s (use --token-url if that address is not reachable from here): %w", tokenURL, err)
}

// signAssertion signs an RFC 7523 client assertion with a generated private
// key: iss = sub = client_id, aud = the issuer, a short exp and a fresh jti.
func signAssertion(keyPEM, keyID, clientID, issuer string) (string, error) {
	block, _ := pem.Decode([]byte(keyPEM))
	if block == nil {
		return "", errors.New("the workload Secret's private_key.pem is not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		if key, err = x509.ParseECPrivateKey(block.Bytes); err != nil {
			return "", errors.New("the workload Secret's private_key.pem is neither PKCS #8 nor an EC private key")
		}
	}
	var method jwt.SigningMethod
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			method = jwt.SigningMethodES256
		case elliptic.P384():
			method = jwt.SigningMethodES384
		default:
			return "", errors.New("the private key's curve is neither P-256 nor P-384")
		}
	case ed25519.PrivateKey:
		method = jwt.SigningMethodEdDSA
	case *rsa.PrivateKey:
		method = jwt.SigningMethodRS256
	default:
		return "", fmt.Errorf("unsupported private key type %T", key)
	}
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	now := time.Now()
	claims := jwt.RegisteredClaims{
		Issuer: clientID, Subject: clientID, Audience: jwt.ClaimStrings{issuer},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(assertionLifetime)),
		ID: base64.RawURLEncoding.EncodeToString(jti),
	}
	tok := jwt.NewWithClaims(method, claims)
	if keyID != "" {
		tok.Header["kid"] = keyID
	}
	return tok.SignedString(key.(crypto.Signer))
}
