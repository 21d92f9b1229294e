package kubectlsignet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/spf13/cobra"
)

// maxResponseBytes caps what is read from the token server.
const maxResponseBytes = 1 << 20

type inspectOptions struct {
	*options
	issuer     string
	jwksURL    string
	credential string
	tokenURL   string
	output     string
}

func newInspectCommand(o *options) *cobra.Command {
	i := &inspectOptions{options: o}
	cmd := &cobra.Command{
		Use:   "inspect TOKEN",
		Short: "Decode an access token, verify it against the JWKS, and introspect it",
		Long: `Decode an access token locally and print its header and claims; verify its
signature, issuer and expiry against the issuer's JWKS (found through the
issuer's discovery document, or given with --jwks-url); and, with
--credential, ask the token server's introspection endpoint whether it is
still active, authenticating with that ClientCredential's workload Secret.

TOKEN may be "-" to read it from standard input. Exits with status 1 when the
token does not verify.`,
		Example: `  kubectl signet inspect "$(kubectl signet token billing-api)"
  kubectl signet token billing-api | kubectl signet inspect - --credential billing-api
  kubectl signet inspect "$TOKEN" --issuer https://signet.example.com`,
		Args: exactOneArg("TOKEN"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return i.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&i.issuer, "issuer", "", "Require this issuer (iss). Default: verify against the issuer the token names.")
	f.StringVar(&i.jwksURL, "jwks-url", "", "Fetch the signing keys from this JWKS URL instead of the issuer's discovery document.")
	f.StringVar(&i.credential, "credential", "", "Introspect the token, authenticating as this ClientCredential (its workload Secret).")
	f.StringVar(&i.tokenURL, "token-url", "", "Token endpoint to use instead of the credential Secret's token_url; introspection is its sibling /introspect.")
	f.StringVarP(&i.output, "output", "o", "", "Output format: empty (text), json or yaml.")
	return cmd
}

// inspection is what inspect found, as printed by -o json.
type inspection struct {
	Header        map[string]any `json:"header"`
	Claims        map[string]any `json:"claims"`
	Verified      bool           `json:"verified"`
	VerifyError   string         `json:"verifyError,omitempty"`
	Introspection map[string]any `json:"introspection,omitempty"`
	// IntrospectionError says why there is no introspection result.
	IntrospectionError string `json:"introspectionError,omitempty"`
}

func (i *inspectOptions) run(ctx context.Context, in io.Reader, out io.Writer, raw string) error {
	if i.output != "" && i.output != "json" && i.output != "yaml" {
		return usageError{fmt.Errorf("--output must be json or yaml, not %q", i.output)}
	}
	if raw == "-" {
		data, err := io.ReadAll(io.LimitReader(in, maxTokenBytes+1))
		if err != nil {
			return err
		}
		raw = string(data)
	}
	raw = strings.TrimSpace(raw)
	parts, err := decodeJWT(raw)
	if err != nil {
		return err
	}
	res := &inspection{Header: parts.Header, Claims: parts.Claims}
	if err := i.verify(ctx, raw, parts); err != nil {
		res.VerifyError = err.Error()
	} else {
		res.Verified = true
	}
	if i.credential != "" {
		res.Introspection, err = i.introspect(ctx, raw)
		if err != nil {
			res.IntrospectionError = err.Error()
		}
	}
	if i.output != "" {
		if err := printStructured(out, i.output, res); err != nil {
			return err
		}
	} else {
		printInspection(out, res, time.Now())
	}
	if !res.Verified {
		return fmt.Errorf("the token did not verify: %s", res.VerifyError)
	}
	return nil
}

// verify checks the signature (with the key the header's kid names in the
// issuer's JWKS), the issuer and the expiry, as an API would, with go-oidc.
func (i *inspectOptions) verify(ctx context.Context, raw string, parts *jwtParts) error {
	iss, _ := parts.Claims["iss"].(string)
	if iss == "" {
		return errors.New("the token has no iss claim")
	}
	if i.issuer != "" && iss != i.issuer {
		return fmt.Errorf("the token's issuer is %q, not %q", iss, i.issuer)
	}
	ctx = oidc.ClientContext(ctx, &http.Client{Timeout: 10 * time.Second})
	cfg := &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{oidc.ES256, oidc.ES384, oidc.EdDSA, oidc.RS256}}
	var verifier *oidc.IDTokenVerifier
	if i.jwksURL != "" {
		verifier = oidc.NewVerifier(iss, oidc.NewRemoteKeySet(ctx, i.jwksURL), cfg)
	} else {
		provider, err := oidc.NewProvider(ctx, iss)
		if err != nil {
			return fmt.Errorf("discovering the issuer's keys (use --jwks-url if %s is not reachable from here): %w", iss, err)
		}
		verifier = provider.Verifier(cfg)
	}
	_, err := verifier.Verify(ctx, raw)
	return err
}

// introspect asks the token server about the token (RFC 7662),
// authenticating with a ClientCredential's workload Secret.
func (i *inspectOptions) introspect(ctx context.Context, raw string) (map[string]any, error) {
	ns, err := i.namespace()
	if err != nil {
		return nil, err
	}
	c, _, err := i.clients()
	if err != nil {
		return nil, err
	}
	w, err := loadWorkload(ctx, c, ns, i.credential)
	if err != nil {
		return nil, err
	}
	tokenURL := w.data[keyTokenURL]
	if i.tokenURL != "" {
		tokenURL = i.tokenURL
	}
	endpoint := strings.TrimSuffix(tokenURL, "/token") + "/introspect"
	form := url.Values{"token": {raw}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return nil, err
	}
	switch {
	case w.data[keyClientSecret] != "":
		req.SetBasicAuth(url.QueryEscape(w.data[keyClientID]), url.QueryEscape(w.data[keyClientSecret]))
	case w.data[keyPrivateKey] != "":
		assertion, err := signAssertion(w.data[keyPrivateKey], w.data[keyKeyID], w.data[keyClientID], w.data[keyIssuer])
		if err != nil {
			return nil, err
		}
		form.Set("client_id", w.data[keyClientID])
		form.Set("client_assertion_type", assertionTypeJWTBearer)
		form.Set("client_assertion", assertion)
	default:
		return nil, fmt.Errorf("ClientCredential %q has no client secret or private key to authenticate to introspection with", i.credential)
	}
	req.Body = io.NopCloser(strings.NewReader(form.Encode()))
	req.ContentLength = int64(len(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("introspecting at %s (use --token-url if that address is not reachable from here): %w", endpoint, err)
	}
	defer resp.Body.Close()
	body := map[string]any{}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return nil, fmt.Errorf("introspection answered HTTP %d without JSON", resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK {
		code, _ := body["error"].(string)
		desc, _ := body["error_description"].(string)
		return nil, fmt.Errorf("introspection refused the caller: HTTP %d %s %s", resp.StatusCode, code, desc)
	}
	return body, nil
}

// printInspection writes the human-readable report.
func printInspection(out io.Writer, res *inspection, now time.Time) {
	fmt.Fprintln(out, "Header:")
	printClaims(out, res.Header, now)
	fmt.Fprintln(out, "Claims:")
	printClaims(out, res.Claims, now)
	if res.Verified {
		fmt.Fprintln(out, "Signature: verified (issuer's JWKS; issuer and expiry checked)")
	} else {
		fmt.Fprintf(out, "Signature: NOT verified: %s\n", res.VerifyError)
	}
	switch {
	case res.Introspection != nil:
		active, _ := res.Introspection["active"].(bool)
		if active {
			fmt.Fprintln(out, "Introspection: active")
		} else {
			fmt.Fprintln(out, "Introspection: inactive (unknown, expired or revoked, or not visible to this caller)")
		}
	case res.IntrospectionError != "":
		fmt.Fprintf(out, "Introspection: %s\n", res.IntrospectionError)
	default:
		fmt.Fprintln(out, "Introspection: not asked (use --credential NAME to authenticate to the token server)")
	}
}

// printClaims prints a JSON object's members in order, with times (exp,
// iat, nbf) also shown in UTC and relative to now.
func printClaims(out io.Writer, m map[string]any, now time.Time) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		s, err := json.Marshal(v)
		if err != nil {
			continue
		}
		line := string(s)
		if f, ok := v.(float64); ok && (k == "exp" || k == "iat" || k == "nbf") {
			t := time.Unix(int64(f), 0)
			line += fmt.Sprintf("  (%s, %s)", t.UTC().Format(time.RFC3339), relative(t, now))
		}
		fmt.Fprintf(out, "  %-10s %s\n", k+":", line)
	}
}
