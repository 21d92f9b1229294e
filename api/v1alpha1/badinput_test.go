package v1alpha1_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// badInput is one invalid form of a field a user sets.
type badInput struct {
	kind string
	// spec is the YAML of the spec, indented by two spaces.
	spec string
	// field is the path the API server must name, as in spec.scopes[1].
	field string
	// fix is a phrase of the message that says what to do.
	fix string
	// echo is the distinctive part of the submitted value, which must not
	// come back in the message. Empty for values that cannot be told from
	// the message's own words (an empty string, a missing field).
	echo string
}

const (
	// privatePEM is an EC private key (a test fixture nobody uses). A pasted
	// key must come back in no message, not even one line of it.
	privatePEM = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYDy2OY2dOs8dNu2j
Xk5vb3Bxc3R1dnd4eXphYmNkZWZnaGlqa2xtbm9woUQDQgAEPk063ym2SyUuDJSV
P2JbHpw/oDccIMJJWOso3nE4crbFh7m7eLEyRTStrJ588K1cU9lO02gXwZD5yoOp
wdfJ4A==
-----END PRIVATE KEY-----`
	ecPrivatePEM = `-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIGA8tjmNnTrPHTbto15Ob29wcXN0dXZ3eHl6YWJjZGVmZ2hpamtsbW5v
cKAKBggqhkjOPQMBB6FEA0IABD5NOt8ptkslLgyUlT9iWx6cP6A3HCDCSVjrKN5x
-----END EC PRIVATE KEY-----`
	// privateJWK is an Ed25519 key with its private part "d".
	privateJWK = `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}`
)

// indent puts a multi-line value under a YAML block scalar at depth spaces.
func indent(text string, depth int) string {
	return strings.ReplaceAll(text, "\n", "\n"+strings.Repeat(" ", depth))
}

var badInputs = map[string]badInput{
	// ServiceAccount
	"SA description too long":         {"ServiceAccount", `description: "` + strings.Repeat("Qz", 513) + `"`, "spec.description", "1024", "QzQzQz"},
	"SA displayName too long":         {"ServiceAccount", `displayName: "` + strings.Repeat("Qz", 129) + `"`, "spec.displayName", "256", "QzQzQz"},
	"SA externalId with a space":      {"ServiceAccount", `externalId: "cmdb 4711qz"`, "spec.externalId", "without spaces", "4711qz"},
	"SA externalId with a line break": {"ServiceAccount", `externalId: "cmdb\n4711qz"`, "spec.externalId", "without spaces", "4711qz"},
	"SA externalId too long":          {"ServiceAccount", `externalId: "` + strings.Repeat("Qz", 129) + `"`, "spec.externalId", "256", "QzQzQz"},
	"SA disabled not a boolean":       {"ServiceAccount", `disabled: "yesqz"`, "spec.disabled", "boolean", "yesqz"},
	"SA daysValid zero":               {"ServiceAccount", `daysValid: 0`, "spec.daysValid", "from 1 to 730", ""},
	"SA daysValid too many":           {"ServiceAccount", `daysValid: 987654`, "spec.daysValid", "from 1 to 730", "987654"},
	"SA daysValid negative":           {"ServiceAccount", `daysValid: -4711`, "spec.daysValid", "from 1 to 730", "4711"},
	"SA daysValid not a number":       {"ServiceAccount", `daysValid: "ninetyqz"`, "spec.daysValid", "integer", "ninetyqz"},
	"SA daysValid a fraction":         {"ServiceAccount", `daysValid: 1.4711`, "spec.daysValid", "integer", "4711"},

	// AccessRule
	"rule without subjects":            {"AccessRule", `scopes: ["x"]`, "spec.subjects", "Required value", ""},
	"rule with an empty subject list":  {"AccessRule", "subjects: []\n  scopes: [\"x\"]", "spec.subjects", "at least 1", ""},
	"rule subject of kind User":        {"AccessRule", "subjects: [{kind: Userqz, name: a}]\n  scopes: [\"x\"]", "spec.subjects[0].kind", "set it to ServiceAccount", "Userqz"},
	"rule subject name not a DNS name": {"AccessRule", "subjects: [{name: a}, {name: Billing_Qz}]\n  scopes: [\"x\"]", "spec.subjects[1].name", "lower-case letters, digits", "Billing_Qz"},
	"rule subject name empty":          {"AccessRule", "subjects: [{name: \"\"}]\n  scopes: [\"x\"]", "spec.subjects[0].name", "lower-case letters, digits", ""},
	"rule subject name too long":       {"AccessRule", "subjects: [{name: " + strings.Repeat("qz", 127) + "}]\n  scopes: [\"x\"]", "spec.subjects[0].name", "253", "qzqzqz"},
	"rule without scopes":              {"AccessRule", `subjects: [{name: a}]`, "spec.scopes", "Required value", ""},
	"rule with an empty scope list":    {"AccessRule", "subjects: [{name: a}]\n  scopes: []", "spec.scopes", "at least 1", ""},
	"rule scope with a space":          {"AccessRule", "subjects: [{name: a}]\n  scopes: [\"orders:read\", \"orders qzread\"]", "spec.scopes[1]", "separate items", "qzread"},
	"rule scope with a double quote":   {"AccessRule", "subjects: [{name: a}]\n  scopes: ['orders\"qzread']", "spec.scopes[0]", "without spaces, double quotes", "qzread"},
	"rule scope with a backslash":      {"AccessRule", "subjects: [{name: a}]\n  scopes: ['orders\\qzread']", "spec.scopes[0]", "without spaces, double quotes", "qzread"},
	"rule scope not ASCII":             {"AccessRule", "subjects: [{name: a}]\n  scopes: [\"bestellungen:lesen:äqz\"]", "spec.scopes[0]", "printable ASCII", "lesen"},
	"rule scope empty":                 {"AccessRule", "subjects: [{name: a}]\n  scopes: [\"\"]", "spec.scopes[0]", "1 to 128 characters", ""},
	"rule scope too long":              {"AccessRule", "subjects: [{name: a}]\n  scopes: [\"" + strings.Repeat("Qz", 65) + "\"]", "spec.scopes[0]", "128", "QzQzQz"},
	"rule with too many scopes":        {"AccessRule", "subjects: [{name: a}]\n  scopes: [" + numbered("qz", 129) + "]", "spec.scopes", "at most 128", "qz128"},
	"rule audience with a space":       {"AccessRule", "subjects: [{name: a}]\n  scopes: [x]\n  audiences: [\"https://orders qz.example.com\"]", "spec.audiences[0]", "for example https://orders.example.com", "orders qz"},
	"rule audience empty":              {"AccessRule", "subjects: [{name: a}]\n  scopes: [x]\n  audiences: [\"\"]", "spec.audiences[0]", "1 to 256 characters", ""},
	"rule audience too long":           {"AccessRule", "subjects: [{name: a}]\n  scopes: [x]\n  audiences: [\"https://" + strings.Repeat("qz", 125) + "\"]", "spec.audiences[0]", "256", "qzqzqz"},
	// The API server's own date-time check quotes the value; a timestamp
	// is not key material (see docs/design/0011-validation-messages-and-docs-as-tests.md).
	"rule expiresAt not a time": {"AccessRule", "subjects: [{name: a}]\n  scopes: [x]\n  expiresAt: \"tomorrowqz\"", "spec.expiresAt", "date-time", ""},
	"rule description too long": {"AccessRule", "subjects: [{name: a}]\n  scopes: [x]\n  description: \"" + strings.Repeat("Qz", 513) + "\"", "spec.description", "1024", "QzQzQz"},

	// ClientCredential
	"credential without an account":                     {"ClientCredential", `type: APIKey`, "spec.serviceAccountName", "Required value", ""},
	"credential account not a DNS name":                 {"ClientCredential", `serviceAccountName: Billing_Qz`, "spec.serviceAccountName", "lower-case letters, digits", "Billing_Qz"},
	"credential account too long":                       {"ClientCredential", `serviceAccountName: ` + strings.Repeat("qz", 127), "spec.serviceAccountName", "253", "qzqzqz"},
	"credential of an unknown type":                     {"ClientCredential", "serviceAccountName: a\n  type: Passwordqz", "spec.type", "ClientSecret, APIKey, PrivateKeyJWT or Federated", "Passwordqz"},
	"credential type in the wrong case":                 {"ClientCredential", "serviceAccountName: a\n  type: apikey", "spec.type", "case-sensitive", "apikey"},
	"credential secretName not a DNS name":              {"ClientCredential", "serviceAccountName: a\n  secretName: My_Secret_Qz", "spec.secretName", "leave it unset", "My_Secret_Qz"},
	"credential secretName too long":                    {"ClientCredential", "serviceAccountName: a\n  secretName: " + strings.Repeat("qz", 127), "spec.secretName", "253", "qzqzqz"},
	"credential reserved label":                         {"ClientCredential", "serviceAccountName: a\n  secretTemplate: {labels: {iam.signet.dev/qzlabel: x}}", "spec.secretTemplate", "reserves for its own labels", "qzlabel"},
	"credential reserved annotation":                    {"ClientCredential", "serviceAccountName: a\n  secretTemplate: {annotations: {iam.signet.dev/qzannotation: x}}", "spec.secretTemplate", "reserves for its own annotations", "qzannotation"},
	"credential validFor in days":                       {"ClientCredential", "serviceAccountName: a\n  validFor: 1000d", "spec.validFor", "days (d) are not a unit", "1000d"},
	"credential validFor over 730 days":                 {"ClientCredential", "serviceAccountName: a\n  validFor: 47110h", "spec.validFor", "for example 2160h", "47110"},
	"credential validFor under an hour":                 {"ClientCredential", "serviceAccountName: a\n  validFor: 47m", "spec.validFor", "from 1h to 17520h", "47m"},
	"credential validFor negative":                      {"ClientCredential", "serviceAccountName: a\n  validFor: -4711h", "spec.validFor", "from 1h to 17520h", "4711"},
	"credential validFor in words":                      {"ClientCredential", "serviceAccountName: a\n  validFor: ninety days qz", "spec.validFor", "from 1h to 17520h", "ninety"},
	"credential rotation interval under an hour":        {"ClientCredential", "serviceAccountName: a\n  rotation: {interval: 47m}", "spec.rotation.interval", "for example 720h", "47m"},
	"credential rotation interval in days":              {"ClientCredential", "serviceAccountName: a\n  rotation: {interval: 47d}", "spec.rotation.interval", "days (d) are not a unit", "47d"},
	"credential grace period over a week":               {"ClientCredential", "serviceAccountName: a\n  rotation: {interval: 720h, gracePeriod: 471h}", "spec.rotation.gracePeriod", "168h (7 days)", "471h"},
	"credential grace period in words":                  {"ClientCredential", "serviceAccountName: a\n  rotation: {gracePeriod: five minutes qz}", "spec.rotation.gracePeriod", "for example 1h", "minutes qz"},
	"credential retirement policy unknown":              {"ClientCredential", "serviceAccountName: a\n  rotation: {retirement: {policy: WhenIdleqz}}", "spec.rotation.retirement.policy", "AfterGrace or WhenUnused", "WhenIdleqz"},
	"credential unusedFor under a minute":               {"ClientCredential", "serviceAccountName: a\n  rotation: {gracePeriod: 24h, retirement: {policy: WhenUnused, unusedFor: 59s}}", "spec.rotation.retirement.unusedFor", "from 1m to 24h", "59s"},
	"credential unusedFor over a day":                   {"ClientCredential", "serviceAccountName: a\n  rotation: {gracePeriod: 48h, retirement: {policy: WhenUnused, unusedFor: 1441m}}", "spec.rotation.retirement.unusedFor", "from 1m to 24h", "1441m"},
	"credential unusedFor without WhenUnused":           {"ClientCredential", "serviceAccountName: a\n  rotation: {retirement: {unusedFor: 17m}}", "spec.rotation.retirement", "set policy: WhenUnused", "17m"},
	"credential WhenUnused within the default grace":    {"ClientCredential", "serviceAccountName: a\n  rotation: {retirement: {policy: WhenUnused}}", "spec.rotation", "set rotation.gracePeriod longer", ""},
	"credential WhenUnused with unusedFor past grace":   {"ClientCredential", "serviceAccountName: a\n  rotation: {gracePeriod: 2h, retirement: {policy: WhenUnused, unusedFor: 131m}}", "spec.rotation", "gracePeriod longer than unusedFor", "131m"},
	"credential grace period as long as the interval":   {"ClientCredential", "serviceAccountName: a\n  rotation: {interval: 47h, gracePeriod: 47h}", "spec.rotation", "must be shorter than rotation.interval", "47h"},
	"credential rotation trigger too long":              {"ClientCredential", "serviceAccountName: a\n  rotation: {trigger: \"" + strings.Repeat("Qz", 127) + "\"}", "spec.rotation.trigger", "253", "QzQzQz"},
	"credential rotation interval longer than validFor": {"ClientCredential", "serviceAccountName: a\n  validFor: 47h\n  rotation: {interval: 48h}", "spec", "shorter than validFor", "47h"},
	"credential revoked not a boolean":                  {"ClientCredential", "serviceAccountName: a\n  revoked: \"yesqz\"", "spec.revoked", "boolean", "yesqz"},
	"credential unknown deletion policy":                {"ClientCredential", "serviceAccountName: a\n  deletionPolicy: Retainqz", "spec.deletionPolicy", "Delete or Orphan", "Retainqz"},
	"credential restart target of kind DaemonSet":       {"ClientCredential", "serviceAccountName: a\n  rolloutRestartTargets: [{kind: DaemonSetqz, name: agent}]", "spec.rolloutRestartTargets[0].kind", "Deployment or StatefulSet", "DaemonSetqz"},
	"credential restart target name not a DNS name":     {"ClientCredential", "serviceAccountName: a\n  rolloutRestartTargets: [{kind: Deployment, name: Api_Qz}]", "spec.rolloutRestartTargets[0].name", "lower-case letters, digits", "Api_Qz"},
	"credential restart target without a name":          {"ClientCredential", "serviceAccountName: a\n  rolloutRestartTargets: [{kind: Deployment}]", "spec.rolloutRestartTargets[0].name", "Required value", ""},
	"credential with too many restart targets":          {"ClientCredential", "serviceAccountName: a\n  rolloutRestartTargets: [" + restartTargets(17) + "]", "spec.rolloutRestartTargets", "at most 16", "qz16"},
	"credential token lifetime under a minute":          {"ClientCredential", "serviceAccountName: a\n  accessTokenLifetime: 47s", "spec.accessTokenLifetime", "from 60s to 24h", "47s"},
	"credential token lifetime in days":                 {"ClientCredential", "serviceAccountName: a\n  accessTokenLifetime: 2d", "spec.accessTokenLifetime", "for example 15m or 1h", ""},
	"credential publicKeys on a ClientSecret":           {"ClientCredential", "serviceAccountName: a\n  type: ClientSecret\n  publicKeys: {jwks: '{\"keys\":[{\"kid\":\"qzkid\"}]}'}", "spec", "only when type is PrivateKeyJWT", "qzkid"},
	"credential publicKeys with pem and jwks":           {"ClientCredential", "serviceAccountName: a\n  type: PrivateKeyJWT\n  publicKeys:\n    jwks: '{\"keys\":[{\"kid\":\"qzkid\"}]}'\n    pem: |\n      " + indent(testPEM, 6), "spec.publicKeys", "exactly one of pem or jwks", "qzkid"},
	"credential publicKeys empty":                       {"ClientCredential", "serviceAccountName: a\n  type: PrivateKeyJWT\n  publicKeys: {}", "spec.publicKeys", "exactly one of pem or jwks", ""},
	"credential private key in publicKeys.pem":          {"ClientCredential", "serviceAccountName: a\n  type: PrivateKeyJWT\n  publicKeys:\n    pem: |\n      " + indent(privatePEM, 6), "spec.publicKeys.pem", "paste only the public key", "MIGHAgEAMBMG"},
	"credential EC private key next to a public key":    {"ClientCredential", "serviceAccountName: a\n  type: PrivateKeyJWT\n  publicKeys:\n    pem: |\n      " + indent(testPEM+"\n"+ecPrivatePEM, 6), "spec.publicKeys.pem", "paste only the public key", "MHcCAQEEIGA8"},
	"credential publicKeys.pem without a PEM block":     {"ClientCredential", "serviceAccountName: a\n  type: PrivateKeyJWT\n  publicKeys: {pem: qz-not-a-key}", "spec.publicKeys.pem", "openssl pkey -in client.key -pubout", "qz-not-a-key"},
	"credential publicKeys.jwks not a key set":          {"ClientCredential", "serviceAccountName: a\n  type: PrivateKeyJWT\n  publicKeys: {jwks: qz-not-json}", "spec.publicKeys.jwks", `"keys" array of public JWKs`, "qz-not-json"},
	"credential private JWK in publicKeys.jwks":         {"ClientCredential", "serviceAccountName: a\n  type: PrivateKeyJWT\n  publicKeys: {jwks: '" + privateJWK + "'}", "spec.publicKeys.jwks", "supply only public JWKs", "nWGxne_9"},
	"credential Federated without federation":           {"ClientCredential", "serviceAccountName: a\n  type: Federated", "spec", "federation is required when type is Federated", ""},
	"credential federation on a ClientSecret":           {"ClientCredential", "serviceAccountName: a\n  federation: {issuer: https://qz.example.com, subject: qzsub}", "spec", "allowed only then", "qzsub"},
	"credential Federated with validFor":                {"ClientCredential", "serviceAccountName: a\n  type: Federated\n  validFor: 4711h\n  federation: {subject: \"system:serviceaccount:x:qz\"}", "spec", "no secret to expire or rotate", "4711h"},
	"federation issuer not https":                       {"ClientCredential", "serviceAccountName: a\n  type: Federated\n  federation: {issuer: \"http://qz.example.com\", subject: s}", "spec.federation.issuer", "https URL without query or fragment", "qz.example"},
	"federation issuer with a query":                    {"ClientCredential", "serviceAccountName: a\n  type: Federated\n  federation: {issuer: \"https://issuer.example.com/?qz=1\", subject: s}", "spec.federation.issuer", "as the token's iss claim spells it", "qz=1"},
	"federation subject not a ServiceAccount":           {"ClientCredential", "serviceAccountName: a\n  type: Federated\n  federation: {subject: \"repo:acme/qz:ref\"}", "spec.federation.subject", "system:serviceaccount:<namespace>:<name>", "acme/qz"},
	"federation subject empty":                          {"ClientCredential", "serviceAccountName: a\n  type: Federated\n  federation: {issuer: \"https://issuer.example.com\", subject: \"\"}", "spec.federation.subject", "at least 1", ""},
	"federation subject too long":                       {"ClientCredential", "serviceAccountName: a\n  type: Federated\n  federation: {issuer: \"https://issuer.example.com\", subject: \"" + strings.Repeat("Qz", 257) + "\"}", "spec.federation.subject", "512", "QzQzQz"},
	"federation audience with a space":                  {"ClientCredential", "serviceAccountName: a\n  type: Federated\n  federation: {issuer: \"https://issuer.example.com\", subject: s, audience: \"aud qz\"}", "spec.federation.audience", "one audience without spaces", "aud qz"},
	"federation claims too long":                        {"ClientCredential", "serviceAccountName: a\n  type: Federated\n  federation: {issuer: \"https://issuer.example.com\", subject: s, claims: \"" + strings.Repeat("Qz", 2049) + "\"}", "spec.federation.claims", "4096", "QzQzQz"},
	"federation jwksURL without issuer":                 {"ClientCredential", "serviceAccountName: a\n  type: Federated\n  federation: {subject: \"system:serviceaccount:x:y\", jwksURL: \"https://qz.example.com/keys\"}", "spec.federation.jwksURL", "needs federation.issuer", "qz.example"},
	"federation jwksURL not https":                      {"ClientCredential", "serviceAccountName: a\n  type: Federated\n  federation: {issuer: \"https://issuer.example.com\", subject: s, jwksURL: \"ftp://qz.example.com/keys\"}", "spec.federation.jwksURL", "must be an https URL", "qz.example"},
	"credential rotation interval with supplied keys":   {"ClientCredential", "serviceAccountName: a\n  type: PrivateKeyJWT\n  rotation: {interval: 47h}\n  publicKeys: {jwks: '{\"keys\":[{\"kid\":\"qzkid\"}]}'}", "spec", "rotate by editing publicKeys", "qzkid"},
}

func numbered(prefix string, n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("%q", fmt.Sprintf("%s%d", prefix, i))
	}
	return strings.Join(items, ", ")
}

func restartTargets(n int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf("{kind: Deployment, name: qz%d}", i)
	}
	return strings.Join(items, ", ")
}

// TestBadInputIsRefusedWithAdviceAndNoEcho applies every invalid form of
// every field a user sets to the real API server. Each refusal must name
// the field, say what to do, be the only complaint about that object (not a
// pattern error followed by a CEL conversion error), and never repeat the
// submitted value: a value in the wrong field may be a secret.
func TestBadInputIsRefusedWithAdviceAndNoEcho(t *testing.T) {
	if len(badInputs) < 40 {
		t.Fatalf("only %d bad inputs; the table should cover every field", len(badInputs))
	}
	ns := newNamespace(t)
	for name, tc := range badInputs {
		t.Run(name, func(t *testing.T) {
			doc := fmt.Sprintf("apiVersion: iam.signet.dev/v1alpha1\nkind: %s\nmetadata: {name: bad}\nspec:\n  %s\n", tc.kind, tc.spec)
			err := k8s.Create(context.Background(), decode(t, doc, ns))
			if err == nil {
				t.Fatalf("the API server accepted:\n%s", doc)
			}
			msg := err.Error()
			causes := fieldCauses(err)
			if len(causes) != 1 {
				t.Errorf("want one complaint, got %d: %s", len(causes), msg)
			}
			if len(causes) > 0 && causes[0].Field != tc.field {
				t.Errorf("the complaint is about %q, want %q: %s", causes[0].Field, tc.field, msg)
			}
			if !strings.Contains(msg, tc.fix) {
				t.Errorf("the message does not say %q: %s", tc.fix, msg)
			}
			if tc.echo != "" && strings.Contains(msg, tc.echo) {
				t.Errorf("the message echoes the submitted value %q: %s", tc.echo, msg)
			}
		})
	}
}

// fieldCauses returns the complaints that name a field. Whenever a schema
// check fails, the API server adds a note whose field is "<nil>" ("some
// validation rules were not checked because the object was invalid"), and
// one more for a number of the wrong format; neither is a complaint of its
// own.
func fieldCauses(err error) []metav1.StatusCause {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return nil
	}
	var out []metav1.StatusCause
	for _, c := range status.Status().Details.Causes {
		if c.Field != "" && c.Field != "<nil>" {
			out = append(out, c)
		}
	}
	return out
}
