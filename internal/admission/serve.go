package admission

import (
	"context"
	"errors"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
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
// writes through and the reconcile-time InvalidClaims condition remains.
func Setup(mgr ctrl.Manager, opts Options) error {
	if err := opts.validate(); err != nil {
		return err
	}
	ready := make(chan struct{})
	if err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: opts.Namespace, Name: opts.SecretName},
		CertDir:        opts.CertDir,
		CAName:         "signet-webhook-ca",
		CAOrganization: "Signet",
		DNSName:        opts.DNSName,
		IsReady:        ready,
		Webhooks:       []rotator.WebhookInfo{{Name: opts.ConfigurationName, Type: rotator.Validating}},
		FieldOwner:     "signet-manager",
		ControllerName: "webhook-certificate",
		// Every replica serves, so every replica needs the certificate.
		RequireLeaderElection: false,
	}); err != nil {
		return err
	}
	return mgr.Add(&serveWhenReady{mgr: mgr, ready: ready})
}

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
