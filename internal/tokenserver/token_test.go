package tokenserver_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/signet-iam/signet/internal/testutil"
	"github.com/signet-iam/signet/internal/tokenserver"
)

const ccGrant = "client_credentials"

func basicToken(h *harness) request {
	return request{body: form("grant_type", ccGrant), basic: []string{h.secret.ID(), h.secret.Secret}}
}

// basicWith is a client_secret_basic request of the secret client with
// the given form.
func basicWith(pairs ...string) func(h *harness) request {
	return func(h *harness) request {
		r := basicToken(h)
		r.body = form(pairs...)
		return r
	}
}

func wrongSecret(h *harness) string {
	// A well-formed secret of another client: the checksum passes, the
	// hash does not.
	other := h.client("ClientSecret", "other", nil, nil)
	return other.Secret
}

func inPast() *time.Time { t := time.Now().Add(-time.Minute); return &t }

// TestTokenEndpointRefuses covers SECURITY.md items 1 and 5 to 14 at the
// token endpoint: every request here must be refused with the RFC 6749 5.2
// (or RFC 8707) error shown.
func TestTokenEndpointRefuses(t *testing.T) {
	cases := map[string]struct {
		setup      func(h *harness)
		req        func(h *harness) request
		wantStatus int
		wantError  string
	}{
		"a wrong client secret in Basic is refused with invalid_client": {
			req: func(h *harness) request {
				return request{body: form("grant_type", ccGrant), basic: []string{h.secret.ID(), wrongSecret(h)}}
			},
			wantStatus: 401, wantError: "invalid_client",
		},
		"a wrong client secret in the body is refused with invalid_client": {
			req: func(h *harness) request {
				return request{body: form("grant_type", ccGrant, "client_id", h.secret.ID(), "client_secret", wrongSecret(h))}
			},
			wantStatus: 401, wantError: "invalid_client",
		},
		"a secret with a bad checksum is refused before hashing": {
			req: func(h *harness) request {
				return request{body: form("grant_type", ccGrant), basic: []string{h.secret.ID(), testutil.Mistyped(h.secret.Secret)}}
			},
			wantStatus: 401, wantError: "invalid_client",
		},
		"an unknown client_id is refused": {
			req: func(h *harness) request {
				return request{body: form("grant_type", ccGrant), basic: []string{"sgc_aaaaaaaaaaaaaaaaaaaaaaaaaa", h.secret.Secret}}
			},
			wantStatus: 401, wantError: "invalid_client",
		},
		"a request without credentials is refused": {
			req:        func(h *harness) request { return request{body: form("grant_type", ccGrant)} },
			wantStatus: 401, wantError: "invalid_client",
		},
		"credentials in the URL are refused": {
			req: func(h *harness) request {
				return request{query: form("client_id", h.secret.ID(), "client_secret", h.secret.Secret), body: form("grant_type", ccGrant)}
			},
			wantStatus: 400, wantError: "invalid_request",
		},
		"a GET is refused": {
			req: func(h *harness) request {
				r := basicToken(h)
				r.method = http.MethodGet
				return r
			},
			wantStatus: 400, wantError: "invalid_request",
		},
		"a JSON body is refused": {
			req: func(h *harness) request {
				r := basicToken(h)
				r.contentType, r.body = "application/json", `{"grant_type":"client_credentials"}`
				return r
			},
			wantStatus: 400, wantError: "invalid_request",
		},
		"a body over 16 KiB is refused": {
			req: func(h *harness) request {
				r := basicToken(h)
				r.body += "&padding=" + strings.Repeat("a", 16<<10)
				return r
			},
			wantStatus: 400, wantError: "invalid_request",
		},
		"a repeated grant_type is refused": {
			req:        basicWith("grant_type", ccGrant, "grant_type", ccGrant),
			wantStatus: 400, wantError: "invalid_request",
		},
		"a repeated scope is refused": {
			req:        basicWith("grant_type", ccGrant, "scope", "orders:read", "scope", "orders:write"),
			wantStatus: 400, wantError: "invalid_request",
		},
		"an empty client_secret counts as absent, so the request has no credentials": {
			req: func(h *harness) request {
				return request{body: form("grant_type", ccGrant, "client_id", h.secret.ID(), "client_secret", "")}
			},
			wantStatus: 401, wantError: "invalid_client",
		},
		"an empty grant_type counts as absent": {
			req:        basicWith("grant_type", ""),
			wantStatus: 400, wantError: "invalid_request",
		},
		"an unknown grant type is refused": {
			req:        basicWith("grant_type", "password"),
			wantStatus: 400, wantError: "unsupported_grant_type",
		},
		"Basic and client_secret together are refused": {
			req: func(h *harness) request {
				r := basicToken(h)
				r.body = form("grant_type", ccGrant, "client_id", h.secret.ID(), "client_secret", h.secret.Secret)
				return r
			},
			wantStatus: 400, wantError: "invalid_request",
		},
		"Basic and a client assertion together are refused": {
			req: func(h *harness) request {
				r := basicToken(h)
				r.body = jwtForm(h.assertion(h.jwtClient, nil))
				return r
			},
			wantStatus: 400, wantError: "invalid_request",
		},
		"a client_id in the body that differs from the Basic user is refused": {
			req: func(h *harness) request {
				r := basicToken(h)
				r.body = form("grant_type", ccGrant, "client_id", h.jwtClient.ID())
				return r
			},
			wantStatus: 400, wantError: "invalid_request",
		},
		"a ClientSecret client cannot authenticate with private_key_jwt": {
			req: func(h *harness) request {
				// Sign with a key the attacker holds, naming the secret client.
				a := h.assertion(h.jwtClient, func(c jwt.MapClaims, _ map[string]any) {
					c["iss"], c["sub"] = h.secret.ID(), h.secret.ID()
				})
				return request{body: jwtForm(a)}
			},
			wantStatus: 400, wantError: "unauthorized_client",
		},
		"a PrivateKeyJWT client cannot authenticate with a client secret": {
			req: func(h *harness) request {
				return request{body: form("grant_type", ccGrant), basic: []string{h.jwtClient.ID(), h.secret.Secret}}
			},
			wantStatus: 400, wantError: "unauthorized_client",
		},
		"an APIKey client cannot use client_credentials with its client_id": {
			req: func(h *harness) request {
				return request{body: form("grant_type", ccGrant), basic: []string{h.apiKey.ID(), h.apiKey.Secret}}
			},
			wantStatus: 400, wantError: "unauthorized_client",
		},
		"an API key sent with client_credentials is refused": {
			req: func(h *harness) request {
				return request{body: form("grant_type", ccGrant, "apikey", h.apiKey.Secret)}
			},
			wantStatus: 400, wantError: "invalid_request",
		},
		"a client secret sent as an API key is refused": {
			req: func(h *harness) request {
				return request{body: form("grant_type", tokenserver.GrantAPIKey, "apikey", h.secret.Secret)}
			},
			wantStatus: 401, wantError: "invalid_client",
		},
		"an unknown API key is refused": {
			req: func(h *harness) request {
				other := h.client("APIKey", "other", nil, nil)
				h.remove(other)
				return request{body: form("grant_type", tokenserver.GrantAPIKey, "apikey", other.Secret)}
			},
			wantStatus: 401, wantError: "invalid_client",
		},
		"the API-key grant with Basic credentials is refused": {
			req:        basicWith("grant_type", tokenserver.GrantAPIKey),
			wantStatus: 400, wantError: "invalid_request",
		},
		"a scope that is not granted is refused": {
			req:        basicWith("grant_type", ccGrant, "scope", "orders:read admin"),
			wantStatus: 400, wantError: "invalid_scope",
		},
		"a malformed scope is refused": {
			req:        basicWith("grant_type", ccGrant, "scope", `orders:read "x"`),
			wantStatus: 400, wantError: "invalid_scope",
		},
		"a resource that is not granted is refused": {
			req:        basicWith("grant_type", ccGrant, "resource", apiAudience, "resource", "https://evil.example.test"),
			wantStatus: 400, wantError: "invalid_target",
		},
		"an audience that is not granted is refused": {
			req:        basicWith("grant_type", ccGrant, "audience", "https://evil.example.test"),
			wantStatus: 400, wantError: "invalid_target",
		},
		"a disabled account is refused": {
			setup:      func(h *harness) { h.secret.Record.Disabled = true; h.put(h.secret) },
			req:        basicToken,
			wantStatus: 401, wantError: "invalid_client",
		},
		"a revoked credential is refused": {
			setup:      func(h *harness) { h.secret.Record.Revoked = true; h.put(h.secret) },
			req:        basicToken,
			wantStatus: 401, wantError: "invalid_client",
		},
		"an expired credential is refused": {
			setup:      func(h *harness) { h.secret.Record.ExpiresAt = inPast(); h.put(h.secret) },
			req:        basicToken,
			wantStatus: 401, wantError: "invalid_client",
		},
		"a deleted credential is refused": {
			setup:      func(h *harness) { h.remove(h.secret) },
			req:        basicToken,
			wantStatus: 401, wantError: "invalid_client",
		},
		"a disabled API-key account is refused": {
			setup: func(h *harness) { h.apiKey.Record.Disabled = true; h.put(h.apiKey) },
			req: func(h *harness) request {
				return request{body: form("grant_type", tokenserver.GrantAPIKey, "apikey", h.apiKey.Secret)}
			},
			wantStatus: 401, wantError: "invalid_client",
		},
		"a previous secret is refused once its grace has ended": {
			req: func(h *harness) request {
				old := h.secret.Secret
				if err := h.fx.RotateSecret(h.secret, inPast()); err != nil {
					h.t.Fatal(err)
				}
				h.put(h.secret)
				return request{body: form("grant_type", ccGrant), basic: []string{h.secret.ID(), old}}
			},
			wantStatus: 401, wantError: "invalid_client",
		},
		"a previous secret is refused after a rotation without grace": {
			req: func(h *harness) request {
				old := h.secret.Secret
				if err := h.fx.RotateSecret(h.secret, nil); err != nil {
					h.t.Fatal(err)
				}
				h.put(h.secret)
				return request{body: form("grant_type", ccGrant), basic: []string{h.secret.ID(), old}}
			},
			wantStatus: 401, wantError: "invalid_client",
		},
		"no signing key means 503, not an unsigned token": {
			setup: func(h *harness) {
				s, _ := h.fx.SigningKeysSecret()
				h.idx.DeleteSecret(s)
			},
			req:        basicToken,
			wantStatus: 503, wantError: "temporarily_unavailable",
		},
	}
	for name, tc := range assertionCases() {
		cases[name] = tc
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if tc.setup != nil {
				tc.setup(h)
			}
			resp := h.do(tc.req(h))
			if resp.status != tc.wantStatus || resp.errorCode() != tc.wantError {
				t.Fatalf("got %d %s, want %d %s", resp.status, resp.body, tc.wantStatus, tc.wantError)
			}
			if resp.header.Get("Cache-Control") != "no-store" || resp.header.Get("Pragma") != "no-cache" {
				t.Errorf("error response lacks Cache-Control: no-store and Pragma: no-cache: %v", resp.header)
			}
			if got := auditField(t, lastLine(h.logs.String()), "reason"); got != wantReasons[name] {
				t.Errorf("audit reason is %q, want %q", got, wantReasons[name])
			}
			if _, ok := resp.json["access_token"]; ok {
				t.Error("a refused request got an access token")
			}
		})
	}
}

type refusal = struct {
	setup      func(h *harness)
	req        func(h *harness) request
	wantStatus int
	wantError  string
}

// assertionCases are the client assertions SECURITY.md items 9 to 12 and
// 14 say to refuse.
func assertionCases() map[string]refusal {
	edited := func(edit func(h *harness, c jwt.MapClaims, hdr map[string]any)) func(h *harness) request {
		return func(h *harness) request {
			return request{body: jwtForm(h.assertion(h.jwtClient, func(c jwt.MapClaims, hdr map[string]any) { edit(h, c, hdr) }))}
		}
	}
	invalid := func(req func(h *harness) request) refusal {
		return refusal{req: req, wantStatus: 401, wantError: "invalid_client"}
	}
	return map[string]refusal{
		"an assertion whose iss is not its sub is refused": invalid(edited(func(h *harness, c jwt.MapClaims, _ map[string]any) {
			c["sub"] = h.secret.ID()
		})),
		"an assertion whose sub is missing is refused": invalid(edited(func(_ *harness, c jwt.MapClaims, _ map[string]any) { delete(c, "sub") })),
		"an assertion without exp is refused":          invalid(edited(func(_ *harness, c jwt.MapClaims, _ map[string]any) { delete(c, "exp") })),
		"an assertion expiring more than 5 minutes ahead is refused": invalid(edited(func(_ *harness, c jwt.MapClaims, _ map[string]any) {
			c["exp"] = time.Now().Add(10 * time.Minute).Unix()
		})),
		"an expired assertion is refused": invalid(edited(func(_ *harness, c jwt.MapClaims, _ map[string]any) {
			c["exp"] = time.Now().Add(-2 * time.Minute).Unix()
		})),
		"an assertion issued in the future is refused": invalid(edited(func(_ *harness, c jwt.MapClaims, _ map[string]any) {
			c["iat"] = time.Now().Add(2 * time.Minute).Unix()
		})),
		"an assertion not valid before a future time is refused": invalid(edited(func(_ *harness, c jwt.MapClaims, _ map[string]any) {
			c["nbf"] = time.Now().Add(2 * time.Minute).Unix()
		})),
		"an assertion for the token endpoint URL rather than the issuer is refused": invalid(edited(func(_ *harness, c jwt.MapClaims, _ map[string]any) {
			c["aud"] = tokenURL
		})),
		"an assertion whose aud array holds a foreign value is refused": invalid(edited(func(_ *harness, c jwt.MapClaims, _ map[string]any) {
			c["aud"] = []string{testIssuer, "https://evil.example.test"}
		})),
		"an assertion without aud is refused": invalid(edited(func(_ *harness, c jwt.MapClaims, _ map[string]any) { delete(c, "aud") })),
		"an assertion without jti is refused": invalid(edited(func(_ *harness, c jwt.MapClaims, _ map[string]any) { delete(c, "jti") })),
		"an assertion with alg none is refused": invalid(func(h *harness) request {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"iss": h.jwtClient.ID(), "sub": h.jwtClient.ID(),
				"aud": testIssuer, "exp": time.Now().Add(time.Minute).Unix(), "jti": randomID()})
			tok.Header["kid"] = h.jwtClient.KeyID
			s, _ := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			return request{body: jwtForm(s)}
		}),
		"an assertion MACed with HS256 over the client's public key is refused": invalid(func(h *harness) request {
			der, _ := x509.MarshalPKIXPublicKey(h.jwtClient.PrivateKey.Public())
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": h.jwtClient.ID(), "sub": h.jwtClient.ID(),
				"aud": testIssuer, "exp": time.Now().Add(time.Minute).Unix(), "jti": randomID()})
			tok.Header["kid"] = h.jwtClient.KeyID
			s, _ := tok.SignedString(der)
			return request{body: jwtForm(s)}
		}),
		"an assertion signed by another key under the client's kid is refused": invalid(func(h *harness) request {
			real := h.jwtClient.PrivateKey
			h.jwtClient.PrivateKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			defer func() { h.jwtClient.PrivateKey = real }()
			return request{body: jwtForm(h.assertion(h.jwtClient, nil))}
		}),
		"an assertion whose kid names another client's key is refused": invalid(func(h *harness) request {
			other := h.client("PrivateKeyJWT", "other", nil, nil)
			return request{body: jwtForm(h.assertion(h.jwtClient, func(_ jwt.MapClaims, hdr map[string]any) { hdr["kid"] = other.KeyID }))}
		}),
		"an assertion whose header alg differs from the key's algorithm is refused": invalid(func(h *harness) request {
			if err := h.fx.AddKey(h.jwtClient, "PS256", nil); err != nil {
				h.t.Fatal(err)
			}
			h.put(h.jwtClient)
			// An RS256 signature from a key the record fixes to PS256.
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"iss": h.jwtClient.ID(), "sub": h.jwtClient.ID(),
				"aud": testIssuer, "exp": time.Now().Add(time.Minute).Unix(), "jti": randomID()})
			tok.Header["kid"] = h.jwtClient.KeyID
			s, _ := tok.SignedString(h.jwtClient.PrivateKey)
			return request{body: jwtForm(s)}
		}),
		"an assertion signed by a key named in jku, x5u and jwk headers is refused": invalid(func(h *harness) request {
			attacker := h.client("PrivateKeyJWT", "attacker", nil, nil)
			h.remove(attacker)
			a := h.assertion(attacker, func(c jwt.MapClaims, hdr map[string]any) {
				c["iss"], c["sub"] = h.jwtClient.ID(), h.jwtClient.ID()
				hdr["jku"] = "https://evil.example.test/jwks"
				hdr["x5u"] = "https://evil.example.test/cert"
				hdr["jwk"] = map[string]any{"kty": "EC", "crv": "P-256"}
			})
			return request{body: jwtForm(a)}
		}),
		"an assertion from a key past its notAfter is refused": {
			setup: func(h *harness) {
				h.jwtClient.Record.PublicKeys[0].NotAfter = inPast()
				h.put(h.jwtClient)
			},
			req: func(h *harness) request { return request{body: jwtForm(h.assertion(h.jwtClient, nil))} }, wantStatus: 401, wantError: "invalid_client",
		},
		"an assertion larger than 8 KiB is refused before parsing": invalid(edited(func(_ *harness, c jwt.MapClaims, _ map[string]any) {
			c["padding"] = strings.Repeat("a", 9<<10)
		})),
		"an assertion with too many dots is refused before parsing": invalid(func(h *harness) request {
			return request{body: jwtForm(h.assertion(h.jwtClient, nil) + strings.Repeat(".", 1000))}
		}),
		"an assertion with a critical header is refused": invalid(edited(func(_ *harness, _ jwt.MapClaims, hdr map[string]any) {
			hdr["crit"] = []string{"exp"}
		})),
		"a client_assertion_type other than jwt-bearer is refused": {
			req: func(h *harness) request {
				return request{body: form("grant_type", ccGrant, "client_assertion_type", "urn:other", "client_assertion", h.assertion(h.jwtClient, nil))}
			},
			wantStatus: 400, wantError: "invalid_request",
		},
		"a client_id that differs from the assertion's iss is refused": invalid(func(h *harness) request {
			return request{body: jwtForm(h.assertion(h.jwtClient, nil), "client_id", h.secret.ID())}
		}),
		"a replayed assertion is refused": invalid(func(h *harness) request {
			a := h.assertion(h.jwtClient, nil)
			if resp := h.do(request{body: jwtForm(a)}); resp.status != http.StatusOK {
				h.t.Fatalf("first use: %d %s", resp.status, resp.body)
			}
			return request{body: jwtForm(a)}
		}),
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// wantReasons is why each refusal happens, as the audit line says: a case
// refused for another reason than the one it is about proves nothing.
var wantReasons = map[string]string{
	"Basic and a client assertion together are refused":              "multiple_methods",
	"Basic and client_secret together are refused":                   "multiple_methods",
	"a ClientSecret client cannot authenticate with private_key_jwt": "wrong_method",
	"a GET is refused":       "invalid_request",
	"a JSON body is refused": "invalid_request",
	"a PrivateKeyJWT client cannot authenticate with a client secret":            "wrong_method",
	"a body over 16 KiB is refused":                                              "invalid_request",
	"a client secret sent as an API key is refused":                              "malformed_secret",
	"a client_assertion_type other than jwt-bearer is refused":                   "malformed_credentials",
	"a client_id in the body that differs from the Basic user is refused":        "malformed_credentials",
	"a client_id that differs from the assertion's iss is refused":               "assertion_claims",
	"a deleted credential is refused":                                            "unknown_client",
	"a disabled API-key account is refused":                                      "disabled",
	"a disabled account is refused":                                              "disabled",
	"a malformed scope is refused":                                               "invalid_scope",
	"a previous secret is refused after a rotation without grace":                "wrong_secret",
	"a previous secret is refused once its grace has ended":                      "wrong_secret",
	"a repeated grant_type is refused":                                           "invalid_request",
	"a repeated scope is refused":                                                "invalid_request",
	"a replayed assertion is refused":                                            "assertion_replayed",
	"a request without credentials is refused":                                   "no_credentials",
	"a resource that is not granted is refused":                                  "invalid_target",
	"a revoked credential is refused":                                            "revoked",
	"a scope that is not granted is refused":                                     "invalid_scope",
	"a secret with a bad checksum is refused before hashing":                     "malformed_secret",
	"a wrong client secret in Basic is refused with invalid_client":              "wrong_secret",
	"a wrong client secret in the body is refused with invalid_client":           "wrong_secret",
	"an API key sent with client_credentials is refused":                         "grant_method_mismatch",
	"an APIKey client cannot use client_credentials with its client_id":          "wrong_method",
	"an assertion MACed with HS256 over the client's public key is refused":      "assertion_invalid",
	"an assertion expiring more than 5 minutes ahead is refused":                 "assertion_lifetime",
	"an assertion for the token endpoint URL rather than the issuer is refused":  "assertion_audience",
	"an assertion from a key past its notAfter is refused":                       "assertion_unknown_key",
	"an assertion issued in the future is refused":                               "assertion_lifetime",
	"an assertion larger than 8 KiB is refused before parsing":                   "assertion_invalid",
	"an assertion not valid before a future time is refused":                     "assertion_lifetime",
	"an assertion signed by a key named in jku, x5u and jwk headers is refused":  "assertion_unknown_key",
	"an assertion signed by another key under the client's kid is refused":       "assertion_invalid",
	"an assertion whose aud array holds a foreign value is refused":              "assertion_audience",
	"an assertion whose header alg differs from the key's algorithm is refused":  "assertion_invalid",
	"an assertion whose iss is not its sub is refused":                           "assertion_claims",
	"an assertion whose kid names another client's key is refused":               "assertion_unknown_key",
	"an assertion whose sub is missing is refused":                               "assertion_claims",
	"an assertion with a critical header is refused":                             "assertion_invalid",
	"an assertion with alg none is refused":                                      "assertion_invalid",
	"an assertion with too many dots is refused before parsing":                  "assertion_invalid",
	"an assertion without aud is refused":                                        "assertion_audience",
	"an assertion without exp is refused":                                        "assertion_lifetime",
	"an assertion without jti is refused":                                        "assertion_claims",
	"an audience that is not granted is refused":                                 "invalid_target",
	"an empty client_secret counts as absent, so the request has no credentials": "no_credentials",
	"an empty grant_type counts as absent":                                       "invalid_request",
	"an expired assertion is refused":                                            "assertion_lifetime",
	"an expired credential is refused":                                           "expired",
	"an unknown API key is refused":                                              "wrong_secret",
	"an unknown client_id is refused":                                            "unknown_client",
	"an unknown grant type is refused":                                           "unsupported_grant_type",
	"credentials in the URL are refused":                                         "invalid_request",
	"no signing key means 503, not an unsigned token":                            "no_signing_key",
	"the API-key grant with Basic credentials is refused":                        "grant_method_mismatch",
}

func auditField(t *testing.T, line, field string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		t.Fatalf("audit line is not JSON: %v", err)
	}
	s, _ := m[field].(string)
	return s
}
