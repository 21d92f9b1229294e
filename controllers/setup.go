// Package controllers holds Signet's reconcilers, one per kind, and the
// key controller that keeps the token server's signing and hash keys.
package controllers

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/replicareport"
	"github.com/signet-iam/signet/internal/signing"
)

// Options configure the controllers. The manager binds them to flags.
type Options struct {
	// SignetNamespace is where credential records and keys live, and where
	// the token server runs.
	SignetNamespace string
	// Issuer is the token server's issuer identifier, written to workload
	// Secrets.
	Issuer string
	// TokenURL is the token endpoint, written to workload Secrets. Default:
	// Issuer + "/oauth2/token".
	TokenURL string
	// SigningAlgorithm, SigningKeyRotation and SigningKeyPublishLead set the
	// signing key schedule.
	SigningAlgorithm      string
	SigningKeyRotation    time.Duration
	SigningKeyPublishLead time.Duration
	// MaxConcurrentReconciles per controller.
	MaxConcurrentReconciles int
	// ContinuityWindow is how long the record of a ClientCredential deleted
	// with the continuity annotation waits for a re-created one to adopt it.
	ContinuityWindow time.Duration
	// RecordSweepInterval is how often the leader deletes credential
	// records no ClientCredential owns.
	RecordSweepInterval time.Duration
	// Clock tells the time; nil means the real clock. Tests move it forward
	// to reach rotation and expiry without waiting.
	Clock clock.PassiveClock
}

// BindFlags registers the options as command-line flags.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.SignetNamespace, "signet-namespace", "signet-system", "Namespace holding credential records and keys, where the token server runs.")
	fs.StringVar(&o.Issuer, "issuer", "http://127.0.0.1:8080", "Issuer identifier of the token server, written to workload Secrets.")
	fs.StringVar(&o.TokenURL, "token-url", "", "Token endpoint written to workload Secrets. Default: the issuer followed by /oauth2/token.")
	fs.StringVar(&o.SigningAlgorithm, "signing-algorithm", signing.ES256, "Algorithm of new signing keys: ES256, EdDSA or RS256.")
	fs.DurationVar(&o.SigningKeyRotation, "signing-key-rotation", 30*24*time.Hour, "How long a signing key signs before its successor takes over.")
	fs.DurationVar(&o.SigningKeyPublishLead, "signing-key-publish-lead", 6*time.Hour, "How long a new signing key is published in the JWKS before it signs.")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", 8, "Reconciles run in parallel per controller.")
	fs.DurationVar(&o.ContinuityWindow, "continuity-window", DefaultContinuityWindow, "How long the record of a ClientCredential deleted with the iam.signet.dev/continuity annotation waits, refused, for a re-created one to adopt it (1m to 24h).")
	fs.DurationVar(&o.RecordSweepInterval, "record-sweep-interval", DefaultRecordSweepInterval, "How often the leader deletes credential records that no ClientCredential owns: ended handovers, and records a write landed after their credential was deleted (1s to 1h).")
}

// Validate checks the options and fills in defaults.
func (o *Options) Validate() error {
	if o.SignetNamespace == "" {
		return errors.New("--signet-namespace must not be empty")
	}
	u, err := url.Parse(o.Issuer)
	if err != nil || u.Scheme == "" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("--issuer %q must be an absolute URL without query or fragment", o.Issuer)
	}
	if o.TokenURL == "" {
		o.TokenURL = o.Issuer + "/oauth2/token"
	}
	if o.MaxConcurrentReconciles < 1 {
		o.MaxConcurrentReconciles = 1
	}
	if o.ContinuityWindow == 0 {
		o.ContinuityWindow = DefaultContinuityWindow
	}
	if o.ContinuityWindow < time.Minute || o.ContinuityWindow > 24*time.Hour {
		return fmt.Errorf("--continuity-window %v must be between 1m and 24h", o.ContinuityWindow)
	}
	if o.RecordSweepInterval == 0 {
		o.RecordSweepInterval = DefaultRecordSweepInterval
	}
	if o.RecordSweepInterval < time.Second || o.RecordSweepInterval > time.Hour {
		return fmt.Errorf("--record-sweep-interval %v must be between 1s and 1h", o.RecordSweepInterval)
	}
	return nil
}

// CacheOptions limits the Secret informer to Secrets carrying Signet's
// component label, so that the manager's memory does not grow with the
// number or size of unrelated Secrets in the cluster. Other Secrets are read,
// rarely, around the cache.
//
// Cached objects are kept without their managedFields: no reconciler reads
// them but to upgrade an earlier Signet's status ownership (status ownership is the API server's business, through server-side
// apply), and on objects Signet writes with apply they are as large as the
// rest of the object.
//
// Leases are cached only in the Signet namespace and only the replica
// reports (docs/design/0029-replica-reports.md), which the manager may
// watch there and nowhere else.
func CacheOptions(signetNamespace string) cache.Options {
	req, err := labels.NewRequirement(record.LabelComponent, selection.Exists, nil)
	if err != nil {
		panic(err)
	}
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {Label: labels.NewSelector().Add(*req)},
			&coordinationv1.Lease{}: {
				Label:      labels.SelectorFromSet(labels.Set{record.LabelComponent: replicareport.Component}),
				Namespaces: map[string]cache.Config{signetNamespace: {}},
			},
			// Except the entries by which an earlier Signet owns a
			// ClientCredential status, until upgradeStatusOwnership has
			// moved them: then none is left.
			&iamv1.ClientCredential{}: {Transform: keepLegacyStatusOwnership},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
	}
}

// Setup registers every Signet controller with the manager.
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if err := registerIndexes(ctx, mgr); err != nil {
		return fmt.Errorf("registering field indexes: %w", err)
	}
	var clk clock.PassiveClock = clock.RealClock{}
	if o.Clock != nil {
		clk = o.Clock
	}
	recorder := notifier{recorder: mgr.GetEventRecorder("signet-manager")}
	keys := &KeysReconciler{
		Client:    mgr.GetClient(),
		Namespace: o.SignetNamespace,
		Clock:     clk,
		Notifier:  recorder,
		Policy: signing.Policy{
			Algorithm:        o.SigningAlgorithm,
			Period:           o.SigningKeyRotation,
			PublishLead:      o.SigningKeyPublishLead,
			MaxTokenLifetime: maxAccessTokenLifetime,
		},
	}
	if err := keys.Policy.Validate(); err != nil {
		return fmt.Errorf("signing key flags: %w", err)
	}
	for name, setup := range map[string]func(ctrl.Manager) error{
		"keys": keys.SetupWithManager,
		"serviceaccount": (&ServiceAccountReconciler{
			Client: mgr.GetClient(), Clock: clk, MaxConcurrentReconciles: o.MaxConcurrentReconciles,
			Namespace: o.SignetNamespace,
		}).SetupWithManager,
		"propagation": (&PropagationReconciler{
			Client: mgr.GetClient(), Clock: clk, MaxConcurrentReconciles: o.MaxConcurrentReconciles,
			Namespace: o.SignetNamespace,
		}).SetupWithManager,
		"accessrule": (&AccessRuleReconciler{
			Client: mgr.GetClient(), Clock: clk, MaxConcurrentReconciles: o.MaxConcurrentReconciles,
		}).SetupWithManager,
		"clientcredential": (&ClientCredentialReconciler{
			Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Clock: clk, Notifier: recorder, Options: o,
		}).SetupWithManager,
	} {
		if err := setup(mgr); err != nil {
			return fmt.Errorf("setting up the %s controller: %w", name, err)
		}
	}
	if err := mgr.Add(&reportSweeper{client: mgr.GetClient(), clock: clk, ns: o.SignetNamespace, interval: 10 * time.Minute}); err != nil {
		return err
	}
	return mgr.Add(&recordSweeper{client: mgr.GetClient(), reader: mgr.GetAPIReader(), clock: clk, ns: o.SignetNamespace, interval: o.RecordSweepInterval})
}
