package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/credential"
	"github.com/signet-iam/signet/internal/record"
)

// snapshot is everything plan reads about one ClientCredential, gathered by
// observe. The credential's status is deliberately not used: status is what
// a reconcile writes, never what it decides from.
type snapshot struct {
	// obj is the ClientCredential; plan reads its metadata and spec only.
	obj *iamv1.ClientCredential
	// clientID is derived from obj's UID.
	clientID string
	// account is the ServiceAccount; nil when it does not exist.
	account *iamv1.ServiceAccount
	// coreAccount is set when account is nil and a core ServiceAccount of
	// that name exists: the easy mistake a message should point out.
	coreAccount bool
	// rules are the AccessRules naming the account.
	rules []iamv1.AccessRule
	// hasher is nil while the hash key Secret does not exist.
	hasher *credential.Hasher
	// workloadSecret is the Secret at the workload Secret's name; nil when
	// there is none.
	workloadSecret *corev1.Secret
	// recordData is the stored record; nil when the record Secret does not
	// exist (or holds no record).
	recordData []byte
	// handover is the record a deleted credential of this name handed over,
	// set only when obj asks for continuity and holds no record of its own.
	handover *namedRecord
	// adopting is set on the snapshot plan works from when it continues
	// handover's identity (continueIdentity).
	adopting bool
	// tokenURL and issuer go into the workload Secret.
	tokenURL, issuer string
	// consumers is what the replicas and rollout restart targets say about
	// the consumers of a previous secret; nil when the record holds none.
	consumers *consumers
	// generationSeenAt is when the watch first delivered obj's generation;
	// zero when unknown. It starts the record's ChangedAt.
	generationSeenAt time.Time
}

// observe reads the credential's account, rules, hash key, workload Secret
// and record into a snapshot. It writes nothing.
func (r *ClientCredentialReconciler) observe(ctx context.Context, obj *iamv1.ClientCredential) (*snapshot, error) {
	clientID, err := credential.ClientID(string(obj.UID))
	if err != nil {
		return nil, err
	}
	s := &snapshot{obj: obj, clientID: clientID, tokenURL: r.Options.TokenURL, issuer: r.Options.Issuer,
		generationSeenAt: r.generations.at(obj)}
	name := obj.Spec.ServiceAccountName
	sa := &iamv1.ServiceAccount{}
	switch err := r.Get(ctx, types.NamespacedName{Namespace: obj.Namespace, Name: name}, sa); {
	case apierrors.IsNotFound(err):
		s.coreAccount = r.coreAccountExists(ctx, obj.Namespace, name)
	case err != nil:
		return nil, err
	default:
		s.account = sa
	}
	rules := &iamv1.AccessRuleList{}
	if err := r.List(ctx, rules, client.InNamespace(obj.Namespace), client.MatchingFields{ruleSubjectIndex: name}); err != nil {
		return nil, err
	}
	s.rules = rules.Items
	if s.hasher, err = r.observeHasher(ctx); err != nil {
		return nil, err
	}
	if s.workloadSecret, err = r.currentWorkloadSecret(ctx, obj.Namespace, workloadSecretName(obj)); err != nil {
		return nil, err
	}
	if s.clientID, s.recordData, s.handover, err = r.observeIdentity(ctx, obj, clientID); err != nil {
		return nil, err
	}
	s.consumers, err = r.observeConsumers(ctx, s)
	return s, err
}

// observeIdentity reads the credential's record: the one of the client_id
// derived from its UID; failing that, one it adopted through continuity;
// failing that, when it asks for continuity, a record handed over by a
// deleted credential of its name, for plan to decide on.
func (r *ClientCredentialReconciler) observeIdentity(ctx context.Context, obj *iamv1.ClientCredential, derived string) (clientID string, data []byte, handover *namedRecord, err error) {
	data, err = r.observeRecord(ctx, derived)
	if err != nil {
		return derived, nil, nil, err
	}
	return chooseIdentity(obj, derived, data, func() ([]namedRecord, error) {
		return r.recordsNamed(ctx, obj.Namespace, obj.Name)
	})
}

// coreAccountExists reports whether a core ServiceAccount of the name
// exists. It reads around the cache (one GET, only while the Signet
// ServiceAccount is missing) so the manager does not watch every core
// ServiceAccount; an error only means no hint.
func (r *ClientCredentialReconciler) coreAccountExists(ctx context.Context, namespace, name string) bool {
	sa := &corev1.ServiceAccount{}
	return r.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sa) == nil
}

// observeHasher loads the hash keyring that the keys controller creates at
// start-up; nil until it exists.
func (r *ClientCredentialReconciler) observeHasher(ctx context.Context) (*credential.Hasher, error) {
	secret := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: r.Options.SignetNamespace, Name: record.HashKeySecretName}, secret)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.hashKeys.hasher(secret)
}

// observeRecord reads the stored record from the cache, unparsed: plan
// decides what an unreadable one means.
func (r *ClientCredentialReconciler) observeRecord(ctx context.Context, clientID string) ([]byte, error) {
	secret := &corev1.Secret{}
	err := r.Get(ctx, types.NamespacedName{Namespace: r.Options.SignetNamespace, Name: record.SecretName(clientID)}, secret)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return secret.Data[record.RecordKey], nil
}

// hashKeyCache keeps the Hasher of the hash keyring Secret, rebuilt only when
// the Secret's resourceVersion changes.
type hashKeyCache struct {
	mu      sync.Mutex
	version string
	cached  *credential.Hasher
}

func (c *hashKeyCache) hasher(secret *corev1.Secret) (*credential.Hasher, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cached != nil && c.version == secret.ResourceVersion {
		return c.cached, nil
	}
	h, err := record.HasherFromSecret(secret.Data)
	if err != nil {
		return nil, fmt.Errorf("hash key Secret %s is unusable: %w", secret.Name, err)
	}
	c.cached, c.version = h, secret.ResourceVersion
	return h, nil
}
