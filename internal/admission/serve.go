package admission

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// Options say where the webhook's serving certificate is kept and whom it
// is for. The webhook server itself (address, CertDir) is the manager's:
// set ctrl.Options.WebhookServer before calling Setup.
type Options struct {
	// Namespace holds the certificate Secret: the Signet namespace.
	Namespace string
	// SecretName is the Secret (in Namespace) holding the webhook's CA and
	// serving certificate. It must exist, empty at first: the manifests
	// create it, and the manager fills and renews it.
	SecretName string
	// ConfigurationName is the ValidatingWebhookConfiguration whose
	// caBundle the manager keeps equal to the CA in the Secret.
	ConfigurationName string
	// DNSName is the name the API server calls the webhook by,
	// <service>.<namespace>.svc: the serving certificate's name.
	DNSName string
	// CertDir is where the Secret is mounted in the manager's container; the
	// webhook server reads tls.crt and tls.key there and reloads them when
	// the kubelet updates the files. It must be the webhook server's CertDir.
	CertDir string
	// ControllerName names the certificate rotator's controller in logs
	// and metrics; default "webhook-certificate". cert-controller refuses
	// a second controller of one name in a process, so a process that sets
	// the webhook up more than once (a test run with -count) sets its own.
	ControllerName string
}

func (o Options) validate() error {
	if o.Namespace == "" || o.SecretName == "" || o.ConfigurationName == "" || o.DNSName == "" || o.CertDir == "" {
		return errors.New("the admission webhook needs its namespace, certificate Secret, webhook configuration, DNS name and certificate directory")
	}
	return nil
}

// Setup keeps the webhook's certificate and serves the webhook once the
// certificate is in place.
//
// Every replica runs the certificate rotator (cert-controller), not only the
// leader, since every replica serves: it generates a self-signed CA and a
// serving certificate for DNSName into the Secret, renews them before they
// expire (90 days ahead; the CA lasts 10 years, the serving certificate
// one), and writes the CA into the configuration's caBundle whenever either
// changes. Replicas racing on the Secret are ordered by its
// resourceVersion. The webhook server is added to the manager only when the
// kubelet has mounted the certificate and the caBundle is injected, so it
// never serves a certificate the API server does not trust; until then,
// and whenever it is down, the configuration's failurePolicy Ignore lets
// writes through and the reconcile-time InvalidClaims condition remains. A
// rotator that fails is logged and leaves the controllers running
// (rotatorManager.Add).
func Setup(mgr ctrl.Manager, opts Options) error {
	if err := opts.validate(); err != nil {
		return err
	}
	ready := make(chan struct{})
	if err := rotator.AddRotator(oneObjectEach(mgr, opts), &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: opts.Namespace, Name: opts.SecretName},
		CertDir:        opts.CertDir,
		CAName:         "signet-webhook-ca",
		CAOrganization: "Signet",
		DNSName:        opts.DNSName,
		IsReady:        ready,
		Webhooks:       []rotator.WebhookInfo{{Name: opts.ConfigurationName, Type: rotator.Validating}},
		FieldOwner:     "signet-manager",
		ControllerName: cmp.Or(opts.ControllerName, "webhook-certificate"),
		// Every replica serves, so every replica needs the certificate.
		RequireLeaderElection: false,
	}); err != nil {
		return err
	}
	return mgr.Add(&serveWhenReady{mgr: mgr, ready: ready})
}

// rotatorManager is the manager as the certificate rotator sees it: the
// same in every way but its API configuration (oneObjectEach).
type rotatorManager struct {
	manager.Manager
	config *rest.Config
}

func (m rotatorManager) GetConfig() *rest.Config { return m.config }

// Add runs the rotator contained: cert-controller's rotator stops with an
// error when the certificate is not mounted or the CA not injected within
// about half an hour (a Secret volume missing from the Pod, RBAC that
// forbids the update), and a runnable's error stops the whole manager. The
// webhook fails open, so its certificate must not take the controllers
// down: the error is logged and the webhook is not served.
func (m rotatorManager) Add(r manager.Runnable) error {
	if cr, ok := r.(*rotator.CertRotator); ok {
		return m.Manager.Add(contained{cr})
	}
	return m.Manager.Add(r)
}

// contained is a rotator whose failure is logged, not returned.
type contained struct{ *rotator.CertRotator }

func (c contained) Start(ctx context.Context) error {
	if err := c.CertRotator.Start(ctx); err != nil {
		ctrl.Log.WithName("admission").Error(err, "The admission webhook's certificate could not be set up: ClientCredential writes are not checked at apply until the manager restarts; the InvalidClaims condition still reports a claim rule that does not compile")
	}
	return nil
}

// oneObjectEach narrows what the certificate rotator reads to the two
// objects it keeps. Its informer lists and watches every Secret of the
// namespace and every ValidatingWebhookConfiguration, and cert-controller
// offers no selector; so its requests that list or watch either ask for the
// one object by name (fieldSelector metadata.name). The manager then caches
// no other Secret for it (it caches only Secrets carrying Signet's labels),
// and its RBAC names the two objects in every rule, list and watch included.
func oneObjectEach(mgr manager.Manager, opts Options) manager.Manager {
	only := map[string]string{
		"/api/v1/namespaces/" + opts.Namespace + "/secrets":                     opts.SecretName,
		"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations": opts.ConfigurationName,
	}
	cfg := rest.CopyConfig(mgr.GetConfig())
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			if req.Method != http.MethodGet {
				return rt.RoundTrip(req)
			}
			for collection, name := range only {
				if strings.HasSuffix(req.URL.Path, collection) {
					req = req.Clone(req.Context())
					q := req.URL.Query()
					selector := "metadata.name=" + name
					if prev := q.Get("fieldSelector"); prev != "" {
						selector = prev + "," + selector
					}
					q.Set("fieldSelector", selector)
					req.URL.RawQuery = q.Encode()
					break
				}
			}
			return rt.RoundTrip(req)
		})
	})
	return rotatorManager{Manager: mgr, config: cfg}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// serveWhenReady registers the validator and adds the webhook server to the
// manager once the certificate is mounted and trusted.
type serveWhenReady struct {
	mgr   ctrl.Manager
	ready <-chan struct{}
}

var _ manager.LeaderElectionRunnable = &serveWhenReady{}

// NeedLeaderElection is false: every replica serves the webhook.
func (s *serveWhenReady) NeedLeaderElection() bool { return false }

func (s *serveWhenReady) Start(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.ready:
	}
	// GetWebhookServer adds the server to the running manager, which starts it.
	s.mgr.GetWebhookServer().Register(ClientCredentialPath, NewClientCredentialWebhook(s.mgr))
	ctrl.Log.WithName("admission").Info("Serving the ClientCredential admission webhook", "path", ClientCredentialPath)
	return nil
}
