package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/signet-iam/signet/internal/record"
)

// Data keys of a revoked-token ConfigMap.
const (
	dataJTI      = "jti"
	dataClientID = "client_id"
)

// Ledger writes the token server's state through the API server, where
// every replica sees it and a restart does not lose it. Each write is a
// create: the API server refuses a second object of the same name, which is
// the atomic check-and-set that makes a jti single-use across replicas.
type Ledger struct {
	Client    kubernetes.Interface
	Namespace string
	// Timeout bounds each write, so a slow API server makes a request fail
	// (closed) rather than hang.
	Timeout time.Duration
}

// UsedAssertionName is the name of the ConfigMap that marks an assertion's
// jti used. The jti is the client's string, so it is hashed with the
// client_id into a valid name, and two clients can never collide.
func UsedAssertionName(clientID, jti string) string {
	sum := sha256.Sum256([]byte(clientID + "\x00" + jti))
	return "signet-jti-" + hex.EncodeToString(sum[:])
}

// RevokedTokenName is the name of the ConfigMap recording a revoked access
// token. Signet's jtis are ULIDs, valid in a name once lower-cased.
func RevokedTokenName(jti string) string {
	return "signet-revoked-" + strings.ToLower(jti)
}

// UseAssertion creates the used-assertion ConfigMap. It returns false when
// the object exists: the jti was used before.
func (l *Ledger) UseAssertion(ctx context.Context, clientID, jti string, exp time.Time) (bool, error) {
	cm := l.object(UsedAssertionName(clientID, jti), record.ComponentUsedAssertion, exp)
	err := l.create(ctx, cm)
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsAlreadyExists(err):
		return false, nil
	}
	return false, fmt.Errorf("recording the assertion's jti: %w", err)
}

// Revoke records that an access token is revoked until it expires. Revoking
// a token twice succeeds.
func (l *Ledger) Revoke(ctx context.Context, jti, clientID string, exp time.Time) error {
	cm := l.object(RevokedTokenName(jti), record.ComponentRevokedToken, exp)
	cm.Data = map[string]string{dataJTI: jti, dataClientID: clientID}
	if err := l.create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("recording the revocation: %w", err)
	}
	return nil
}

func (l *Ledger) object(name, component string, exp time.Time) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:      name,
		Namespace: l.Namespace,
		Labels:    map[string]string{record.LabelManagedBy: record.ManagedBy, record.LabelComponent: component},
		// Rounded up, so collection never runs ahead of exp.
		Annotations: map[string]string{record.AnnotationExpiresAt: exp.UTC().Add(time.Second - 1).Truncate(time.Second).Format(time.RFC3339)},
	}}
}

func (l *Ledger) create(ctx context.Context, cm *corev1.ConfigMap) error {
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err := l.Client.CoreV1().ConfigMaps(l.Namespace).Create(ctx, cm, metav1.CreateOptions{})
	return err
}
