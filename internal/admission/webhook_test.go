package admission

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/testenv"
	"github.com/signet-iam/signet/internal/testutil"
)

var env *testenv.Environment

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	os.Exit(testenv.Run(m, func(e *testenv.Environment) error {
		env = e
		return nil
	}))
}

// The names config/webhook gives the certificate Secret and the webhook
// configuration after config/default's prefix, which its RBAC names.
const (
	secretName        = "signet-webhook-cert"
	configurationName = "signet-validating-webhook"
)

// TestWebhookRefusesAnInvalidClaimRuleAtApply runs the manager's webhook as
// the manager's ServiceAccount, holding only the webhook's RBAC of
// config/webhook (which names its two objects in every rule), with the ValidatingWebhookConfiguration
// of config/webhook pointed at it. The certificate rotator fills the empty
// Secret and injects its CA into the configuration; a stand-in for the
// kubelet copies the Secret into the certificate directory, as a Secret
// volume does; then the API server itself refuses a Federated
// ClientCredential whose claim rule does not compile, with a message naming
// spec.federation.claims, and admits a valid one. With failurePolicy
// Ignore, a refusal can only come from a webhook the API server reached and
// trusted.
func TestWebhookRefusesAnInvalidClaimRuleAtApply(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	scheme := testenv.Scheme()
	k8s, err := client.New(env.Config, client.Options{Scheme: scheme})
	g.Expect(err).NotTo(HaveOccurred())
	signetNS := testutil.Namespace(t, k8s, "signet-", nil)
	tenantNS := testutil.Namespace(t, k8s, "team-", nil)

	// The manager's RBAC for the webhook, config/webhook's alone: every
	// rule names the Secret or the configuration, list and watch included.
	user := testutil.ServiceAccountUser(signetNS, "manager")
	var rbac []client.Object
	for _, obj := range testutil.ReadObjects(t, filepath.Join(env.Root, "config", "webhook", "role.yaml")) {
		if obj.GetNamespace() != "" {
			obj.SetNamespace(signetNS)
		}
		if obj.GetKind() == "ClusterRole" || obj.GetKind() == "ClusterRoleBinding" {
			obj.SetName(obj.GetName() + "-" + signetNS)
		}
		bindTo(obj, signetNS)
		rbac = append(rbac, obj)
	}
	testutil.Install(t, k8s, rbac...)

	// config/webhook's Secret and configuration, the latter pointed at
	// this process instead of a Service.
	port := freePort(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: signetNS, Name: secretName}}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	readInto(t, filepath.Join(env.Root, "config", "webhook", "manifests.yaml"), vwc)
	vwc.Name = configurationName
	url := fmt.Sprintf("https://localhost:%d%s", port, ClientCredentialPath)
	g.Expect(vwc.Webhooks).To(HaveLen(1))
	g.Expect(vwc.Webhooks[0].ClientConfig.Service.Path).To(HaveValue(Equal(ClientCredentialPath)))
	vwc.Webhooks[0].ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url}
	testutil.Install(t, k8s, secret, vwc)

	certDir := t.TempDir()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		WebhookServer:          webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: port, CertDir: certDir}),
	})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(Setup(mgr, Options{
		Namespace: signetNS, SecretName: secretName, ConfigurationName: configurationName,
		DNSName: "localhost", CertDir: certDir,
		// One controller name per run: -count runs this test again in
		// the same process.
		ControllerName: "webhook-certificate-" + strings.ToLower(rand.Text()[:8]),
	})).To(Succeed())
	mgrCtx, stopMgr := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	stop := sync.OnceValue(func() error {
		stopMgr()
		return <-done
	})
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("manager: %v", err)
		}
	})

	// The rotator fills the Secret; the kubelet would mount it.
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		g.Expect(secret.Data).To(HaveKey("ca.crt"))
		g.Expect(secret.Data).To(HaveKey("tls.crt"))
		g.Expect(secret.Data).To(HaveKey("tls.key"))
	}).WithTimeout(30 * time.Second).Should(Succeed())
	for _, key := range []string{"tls.crt", "tls.key"} {
		g.Expect(os.WriteFile(filepath.Join(certDir, key), secret.Data[key], 0o600)).To(Succeed())
	}

	// The configuration trusts the CA in the Secret.
	g.Eventually(func(g Gomega) {
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(vwc), vwc)).To(Succeed())
		g.Expect(k8s.Get(ctx, client.ObjectKeyFromObject(secret), secret)).To(Succeed())
		g.Expect(vwc.Webhooks[0].ClientConfig.CABundle).NotTo(BeEmpty())
		g.Expect(vwc.Webhooks[0].ClientConfig.CABundle).To(Equal(secret.Data["ca.crt"]),
			"caBundle %s", base64.StdEncoding.EncodeToString(vwc.Webhooks[0].ClientConfig.CABundle))
	}).WithTimeout(30 * time.Second).Should(Succeed())

	// Until the webhook serves, failurePolicy Ignore admits anything: a
	// dry run shows when it refuses.
	invalid := federated(tenantNS, "ci", `claims.repository_owner ==`)
	var refusal error
	g.Eventually(func() error {
		refusal = k8s.Create(ctx, invalid.DeepCopy(), client.DryRunAll)
		return refusal
	}).WithTimeout(90 * time.Second).WithPolling(200 * time.Millisecond).ShouldNot(Succeed())
	g.Expect(refusal.Error()).To(ContainSubstring(`admission webhook "clientcredentials.iam.signet.dev" denied the request: spec.federation.claims is not a valid CEL expression`))
	t.Logf("kubectl apply would print: %v", refusal)

	err = k8s.Create(ctx, invalid)
	g.Expect(err).To(MatchError(ContainSubstring("spec.federation.claims")), "the API server must refuse the rule")

	// What kubectl apply prints, as docs/howto/github-actions-token.md shows it.
	manifest := filepath.Join(t.TempDir(), "api-deployer.yaml")
	g.Expect(os.WriteFile(manifest, []byte(`apiVersion: iam.signet.dev/v1alpha1
kind: ClientCredential
metadata: {name: api-deployer, namespace: `+tenantNS+`}
spec:
  serviceAccountName: api-deployer
  type: Federated
  federation:
    issuer: https://token.actions.githubusercontent.com
    subject: "repo:acme/api:environment:prod"
    claims: 'claims.repository_owner =='
`), 0o600)).To(Succeed())
	assets, err := testenv.AssetsDir()
	g.Expect(err).NotTo(HaveOccurred())
	admin, err := env.AddUser(envtest.User{Name: "platform-admin", Groups: []string{"system:masters"}}, nil)
	g.Expect(err).NotTo(HaveOccurred())
	kubectl, err := admin.Kubectl()
	g.Expect(err).NotTo(HaveOccurred())
	kubectl.Path = filepath.Join(assets, "kubectl")
	_, stderr, err := kubectl.Run("apply", "-f", manifest)
	g.Expect(err).To(HaveOccurred(), "kubectl apply must fail")
	printed, _ := io.ReadAll(stderr)
	g.Expect(string(printed)).To(HavePrefix(`Error from server (Forbidden): error when creating "` + manifest + `": admission webhook "clientcredentials.iam.signet.dev" denied the request: spec.federation.claims is not a valid CEL expression: ERROR: <input>:1:27: Syntax error:`))
	g.Expect(string(printed)).To(HaveSuffix(". Fix spec.federation.claims: it must be a CEL expression over the map claims that yields a boolean\n"))
	notBoolean := federated(tenantNS, "ci", `claims.repository_owner`)
	g.Expect(k8s.Create(ctx, notBoolean)).To(MatchError(ContainSubstring("spec.federation.claims must be a boolean expression")))

	valid := federated(tenantNS, "ci", `claims.repository_owner == "acme"`)
	g.Expect(k8s.Create(ctx, valid)).To(Succeed(), "a rule that compiles is admitted")
	valid.Spec.Federation.Claims = `claims.repository_owner = "acme"`
	g.Expect(k8s.Update(ctx, valid)).To(MatchError(ContainSubstring("spec.federation.claims")), "an update to a rule that does not compile is refused")
	other := &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Namespace: tenantNS, Name: "secret"},
		Spec: iamv1.ClientCredentialSpec{ServiceAccountName: "ci", Type: iamv1.ClientSecretType}}
	g.Expect(k8s.Create(ctx, other)).To(Succeed(), "other types are not the webhook's business")

	// It serves a certificate for its name that chains to the CA in the
	// Secret, which is the caBundle.
	pool := x509.NewCertPool()
	g.Expect(pool.AppendCertsFromPEM(secret.Data["ca.crt"])).To(BeTrue())
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(conn.Close()).To(Succeed())

	// With the webhook down, failurePolicy Ignore lets writes through: the
	// reconcile's InvalidClaims condition is the backstop.
	g.Expect(stop()).To(Succeed())
	g.Expect(k8s.Create(ctx, federated(tenantNS, "while-down", `claims.repository_owner ==`))).To(Succeed())
}

// bindTo points a binding's ServiceAccount subjects at namespace ns.
func bindTo(obj *unstructured.Unstructured, ns string) {
	subjects, _, _ := unstructured.NestedSlice(obj.Object, "subjects")
	for _, s := range subjects {
		s.(map[string]any)["namespace"] = ns
	}
	if subjects != nil {
		_ = unstructured.SetNestedSlice(obj.Object, subjects, "subjects")
	}
	if ref, ok, _ := unstructured.NestedString(obj.Object, "roleRef", "name"); ok && obj.GetKind() == "ClusterRoleBinding" {
		_ = unstructured.SetNestedField(obj.Object, ref+"-"+ns, "roleRef", "name")
	}
}

func readInto(t *testing.T, path string, into client.Object) {
	t.Helper()
	objs := testutil.ReadObjects(t, path)
	if len(objs) != 1 {
		t.Fatalf("%s: want one object, got %d", path, len(objs))
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
