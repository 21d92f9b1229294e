package v1alpha1_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/signet-iam/signet/internal/testenv"
)

// decode turns one YAML document into an object, in namespace ns.
func decode(t *testing.T, doc, ns string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
		t.Fatalf("bad test YAML: %v\n%s", err, doc)
	}
	obj.SetNamespace(ns)
	return obj
}

const testPEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqH7Xy3L9Rm4F2d3P4x9F1kQz3a6b
-----END PUBLIC KEY-----`

var validObjects = map[string]string{
	"a ServiceAccount with every field set is accepted": `
apiVersion: iam.signet.dev/v1alpha1
kind: ServiceAccount
metadata: {name: ci-deployer}
spec:
  description: Deploys from CI
  displayName: CI deployer
  externalId: cmdb-4711
  disabled: false
  daysValid: 730`,
	"a minimal ServiceAccount is accepted": `
apiVersion: iam.signet.dev/v1alpha1
kind: ServiceAccount
metadata: {name: minimal}
spec: {}`,
	"an AccessRule with scopes, audiences and an expiry is accepted": `
apiVersion: iam.signet.dev/v1alpha1
kind: AccessRule
metadata: {name: orders-read}
spec:
  subjects: [{kind: ServiceAccount, name: ci-deployer}, {name: billing}]
  scopes: ["orders:read", "orders/write", "urn:example:scope!#$%&'()*+,-./:;<=>?@[]^_{|}~"]
  audiences: ["https://orders.example.com"]
  expiresAt: "2030-01-01T00:00:00Z"
  description: Read orders`,
	"a ClientCredential with only an account is accepted": `
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: minimal}
spec:
  serviceAccountName: ci-deployer`,
	"a ClientCredential with rotation, grace, template and restart targets is accepted": `
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: full}
spec:
  serviceAccountName: ci-deployer
  type: ClientSecret
  secretName: ci-deployer-oauth
  secretTemplate:
    labels: {app: deployer}
    annotations: {reloader.stakater.com/match: "true"}
  validFor: 2160h
  rotation: {interval: 720h, gracePeriod: 1h, trigger: "2026-11-22", retirement: {policy: WhenUnused, unusedFor: 10m}}
  deletionPolicy: Orphan
  rolloutRestartTargets: [{kind: Deployment, name: api}, {kind: StatefulSet, name: db}]
  accessTokenLifetime: 15m`,
	"an APIKey credential valid for exactly 730 days is accepted": `
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: apikey}
spec:
  serviceAccountName: ci-deployer
  type: APIKey
  validFor: 17520h`,
	"a PrivateKeyJWT credential with a supplied PEM key is accepted": `
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: pkjwt-pem}
spec:
  serviceAccountName: ci-deployer
  type: PrivateKeyJWT
  publicKeys:
    pem: |
      ` + strings.ReplaceAll(testPEM, "\n", "\n      "),
	"a PrivateKeyJWT credential with a supplied JWKS is accepted": `
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: pkjwt-jwks}
spec:
  serviceAccountName: ci-deployer
  type: PrivateKeyJWT
  publicKeys:
    jwks: '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}'`,
	"a Federated credential trusting a GitHub Actions job is accepted": `
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: federated-ci}
spec:
  serviceAccountName: ci-deployer
  type: Federated
  federation:
    issuer: https://token.actions.githubusercontent.com
    subject: "repo:acme/api:ref:refs/heads/main"
    audience: https://signet.example.com
    claims: 'claims.repository_owner == "acme" && claims.environment == "prod"'`,
	"a Federated credential trusting a local issuer with a JWKS URL is accepted": `
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: federated-local}
spec:
  serviceAccountName: ci-deployer
  type: Federated
  federation:
    issuer: http://127.0.0.1:8200/issuer
    subject: job-7
    jwksURL: http://127.0.0.1:8200/issuer/keys`,
	"a PrivateKeyJWT credential with generated keys and rotation is accepted": `
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: pkjwt-gen}
spec:
  serviceAccountName: ci-deployer
  type: PrivateKeyJWT
  rotation: {interval: 24h, gracePeriod: 0s}`,
}

func TestValidObjectsAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	for name, doc := range validObjects {
		t.Run(name, func(t *testing.T) {
			if err := k8s.Create(context.Background(), decode(t, doc, ns)); err != nil {
				t.Fatalf("the API server rejected a valid object: %v", err)
			}
		})
	}
}

func TestDefaultsAreApplied(t *testing.T) {
	ns := newNamespace(t)
	obj := decode(t, validObjects["a ClientCredential with only an account is accepted"], ns)
	if err := k8s.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]any{
		"spec.type":                 "ClientSecret",
		"spec.deletionPolicy":       "Delete",
		"spec.revoked":              false,
		"spec.rotation.gracePeriod": "5m",
		"spec.accessTokenLifetime":  "1h",
	} {
		got, _, _ := unstructured.NestedFieldNoCopy(obj.Object, strings.Split(path, ".")...)
		if got != want {
			t.Errorf("%s defaulted to %v, want %v", path, got, want)
		}
	}
}

var invalidObjects = map[string]struct{ doc, message string }{
	"a ServiceAccount valid for more than 730 days is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ServiceAccount
metadata: {name: too-long}
spec: {daysValid: 731}`, "daysValid must be a whole number of days from 1 to 730"},
	"a ServiceAccount valid for zero days is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ServiceAccount
metadata: {name: zero}
spec: {daysValid: 0}`, "daysValid must be a whole number of days from 1 to 730"},
	"an externalId with spaces is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ServiceAccount
metadata: {name: spaces}
spec: {externalId: "a b"}`, "externalId must be one word without spaces"},
	"a scope with a space is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: AccessRule
metadata: {name: space-scope}
spec:
  subjects: [{name: a}]
  scopes: ["orders read"]`, "each scope must be an RFC 6749 scope-token"},
	"a scope with a double quote is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: AccessRule
metadata: {name: quote-scope}
spec:
  subjects: [{name: a}]
  scopes: ['orders"read']`, "each scope must be an RFC 6749 scope-token"},
	"a scope with a backslash is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: AccessRule
metadata: {name: backslash-scope}
spec:
  subjects: [{name: a}]
  scopes: ['orders\read']`, "each scope must be an RFC 6749 scope-token"},
	"a non-ASCII scope is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: AccessRule
metadata: {name: unicode-scope}
spec:
  subjects: [{name: a}]
  scopes: ["bestellungen:lesen:ä"]`, "each scope must be an RFC 6749 scope-token"},
	"a subject of kind User is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: AccessRule
metadata: {name: user-subject}
spec:
  subjects: [{kind: User, name: alice}]
  scopes: ["orders:read"]`, "kind must be ServiceAccount"},
	"an AccessRule without scopes is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: AccessRule
metadata: {name: no-scopes}
spec:
  subjects: [{name: a}]
  scopes: []`, "spec.scopes: Invalid value: 0: spec.scopes in body should have at least 1 items"},
	"an AccessRule naming one subject twice is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: AccessRule
metadata: {name: dup-subject}
spec:
  subjects: [{name: a}, {kind: ServiceAccount, name: a}]
  scopes: ["x"]`, "Duplicate value"},
	"an audience with a space is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: AccessRule
metadata: {name: space-aud}
spec:
  subjects: [{name: a}]
  scopes: ["x"]
  audiences: ["https://a b"]`, "each audience must be 1 to 256 characters of printable ASCII"},
	"a credential valid for more than 730 days is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: too-long}
spec: {serviceAccountName: a, validFor: 17521h}`, "validFor must be a duration from 1h to 17520h (730 days)"},
	"a validFor that is not a duration is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: days}
spec: {serviceAccountName: a, validFor: 30d}`, "days (d) are not a unit"},
	"an unknown credential type is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: bad-type}
spec: {serviceAccountName: a, type: Password}`, "type must be ClientSecret, APIKey, PrivateKeyJWT or Federated"},
	"publicKeys on a ClientSecret credential are rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: keys-on-secret}
spec:
  serviceAccountName: a
  type: ClientSecret
  publicKeys: {jwks: '{"keys":[]}'}`, "publicKeys may be set only when type is PrivateKeyJWT"},
	"publicKeys with both pem and jwks are rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: both-keys}
spec:
  serviceAccountName: a
  type: PrivateKeyJWT
  publicKeys:
    jwks: '{"keys":[]}'
    pem: |
      ` + strings.ReplaceAll(testPEM, "\n", "\n      "), "publicKeys needs exactly one of pem or jwks"},
	"a private key pasted into publicKeys.pem is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: private-pem}
spec:
  serviceAccountName: a
  type: PrivateKeyJWT
  publicKeys:
    pem: |
      -----BEGIN PRIVATE KEY-----
      MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg
      -----END PRIVATE KEY-----`, "publicKeys.pem holds a private key"},
	"a grace period as long as the rotation interval is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: long-grace}
spec:
  serviceAccountName: a
  rotation: {interval: 2h, gracePeriod: 2h}`, "rotation.gracePeriod must be shorter than rotation.interval"},
	"a rotation interval under an hour is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: fast-rotation}
spec:
  serviceAccountName: a
  rotation: {interval: 30m, gracePeriod: 1m}`, "rotation.interval must be a duration from 1h to 17520h"},
	"a rotation interval longer than validFor is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: rotation-after-expiry}
spec:
  serviceAccountName: a
  validFor: 24h
  rotation: {interval: 48h}`, "rotation.interval must be shorter than validFor"},
	"a rotation interval with supplied public keys is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: rotate-supplied}
spec:
  serviceAccountName: a
  type: PrivateKeyJWT
  rotation: {interval: 24h}
  publicKeys: {jwks: '{"keys":[]}'}`, "rotation.interval applies only to keys Signet generates"},
	"a reserved label in secretTemplate is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: reserved-label}
spec:
  serviceAccountName: a
  secretTemplate: {labels: {iam.signet.dev/component: x}}`, "secretTemplate.labels must not use the iam.signet.dev/ prefix"},
	"a reserved annotation in secretTemplate is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: reserved-annotation}
spec:
  serviceAccountName: a
  secretTemplate: {annotations: {iam.signet.dev/secret-digest: x}}`, "secretTemplate.annotations must not use the iam.signet.dev/ prefix"},
	"a grace period over a week is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: week-grace}
spec:
  serviceAccountName: a
  rotation: {interval: 720h, gracePeriod: 169h}`, "rotation.gracePeriod must be a duration from 0s to 168h"},
	"a JWKS that is not a key set is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: bare-jwk}
spec:
  serviceAccountName: a
  type: PrivateKeyJWT
  publicKeys: {jwks: '{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}'}`, `publicKeys.jwks must be a JSON object with a "keys" array`},
	"a restart target of kind DaemonSet is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: daemonset}
spec:
  serviceAccountName: a
  rolloutRestartTargets: [{kind: DaemonSet, name: agent}]`, "kind must be Deployment or StatefulSet"},
	"an unknown deletion policy is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: retain}
spec: {serviceAccountName: a, deletionPolicy: Retain}`, "deletionPolicy must be Delete or Orphan"},
	"an access token lifetime over a day is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: long-tokens}
spec: {serviceAccountName: a, accessTokenLifetime: 25h}`, "accessTokenLifetime must be a duration from 60s to 24h"},
	"a secret name that is not a DNS name is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: bad-secret-name}
spec: {serviceAccountName: a, secretName: My_Secret}`, "secretName must be a valid Secret name"},
	"a credential without an account is rejected": {`
apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: no-account}
spec: {type: APIKey}`, "spec.serviceAccountName: Required value"},
}

func TestInvalidObjectsAreRejected(t *testing.T) {
	ns := newNamespace(t)
	for name, tc := range invalidObjects {
		t.Run(name, func(t *testing.T) {
			err := k8s.Create(context.Background(), decode(t, tc.doc, ns))
			if err == nil {
				t.Fatalf("the API server accepted an invalid object; want an error containing %q", tc.message)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("error %q does not contain %q", err, tc.message)
			}
		})
	}
}

var immutableUpdates = map[string]struct {
	doc     string
	mutate  func(obj *unstructured.Unstructured)
	message string
}{
	"changing serviceAccountName is rejected": {
		validObjects["a ClientCredential with only an account is accepted"],
		func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, "other", "spec", "serviceAccountName")
		},
		"serviceAccountName is immutable",
	},
	"changing type is rejected": {
		validObjects["a ClientCredential with only an account is accepted"],
		func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, "APIKey", "spec", "type")
		},
		"type is immutable",
	},
	"changing secretName is rejected": {
		validObjects["a ClientCredential with rotation, grace, template and restart targets is accepted"],
		func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, "another", "spec", "secretName")
		},
		"secretName is immutable",
	},
	"adding secretName is rejected": {
		validObjects["a ClientCredential with only an account is accepted"],
		func(o *unstructured.Unstructured) {
			_ = unstructured.SetNestedField(o.Object, "late", "spec", "secretName")
		},
		"secretName cannot be added or removed",
	},
	"removing secretName is rejected": {
		validObjects["a ClientCredential with rotation, grace, template and restart targets is accepted"],
		func(o *unstructured.Unstructured) { unstructured.RemoveNestedField(o.Object, "spec", "secretName") },
		"secretName cannot be added or removed",
	},
}

func TestImmutableFieldsCannotChange(t *testing.T) {
	for name, tc := range immutableUpdates {
		t.Run(name, func(t *testing.T) {
			ns := newNamespace(t)
			ctx := context.Background()
			obj := decode(t, tc.doc, ns)
			if err := k8s.Create(ctx, obj); err != nil {
				t.Fatal(err)
			}
			tc.mutate(obj)
			err := k8s.Update(ctx, obj)
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Fatalf("update error %v, want one containing %q", err, tc.message)
			}
		})
	}
}

// TestMutableFieldsCanChange guards against immutability rules that catch
// too much: the fields GitOps users edit every day must stay editable.
func TestMutableFieldsCanChange(t *testing.T) {
	ns := newNamespace(t)
	ctx := context.Background()
	obj := decode(t, validObjects["a ClientCredential with rotation, grace, template and restart targets is accepted"], ns)
	if err := k8s.Create(ctx, obj); err != nil {
		t.Fatal(err)
	}
	_ = unstructured.SetNestedField(obj.Object, "2026-12-01", "spec", "rotation", "trigger")
	_ = unstructured.SetNestedField(obj.Object, true, "spec", "revoked")
	_ = unstructured.SetNestedField(obj.Object, "Delete", "spec", "deletionPolicy")
	if err := k8s.Update(ctx, obj); err != nil {
		t.Fatalf("updating mutable fields: %v", err)
	}
}

// TestSamplesAreValid applies every sample under config/samples.
func TestSamplesAreValid(t *testing.T) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	if len(files) < 5 {
		t.Fatalf("want at least one sample per seed scenario (5), found %d", len(files))
	}
	for _, file := range files {
		if filepath.Base(file) == "kustomization.yaml" {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			ns := newNamespace(t)
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, doc := range strings.Split(string(data), "\n---") {
				if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" || !strings.Contains(doc, "kind:") {
					continue
				}
				obj := decode(t, doc, ns)
				if err := k8s.Create(context.Background(), obj, client.FieldOwner("samples")); err != nil {
					t.Fatalf("sample %s/%s rejected: %v", obj.GetKind(), obj.GetName(), err)
				}
				n++
			}
			if n == 0 {
				t.Fatal("sample file holds no objects")
			}
		})
	}
}
