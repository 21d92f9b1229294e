package kubectlsignet

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
)

// Keys of the workload Secret the manager writes (see docs/concepts.md).
const (
	keyClientID     = "client_id"
	keyClientSecret = "client_secret"
	keyAPIKey       = "api_key"
	keyPrivateKey   = "private_key.pem"
	keyKeyID        = "key_id"
	keyTokenURL     = "token_url"
	keyIssuer       = "issuer"
)

// workload is a ClientCredential with the contents of its workload Secret.
type workload struct {
	obj  *iamv1.ClientCredential
	data map[string]string
}

// getCredential reads a ClientCredential, with a message that says what to
// do when it is missing.
func getCredential(ctx context.Context, c client.Client, ns, name string) (*iamv1.ClientCredential, error) {
	obj := &iamv1.ClientCredential{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("ClientCredential %q not found in namespace %q (list them with: kubectl get clientcredentials -n %s)", name, ns, ns)
		}
		return nil, err
	}
	return obj, nil
}

// loadWorkload reads a ClientCredential and its workload Secret, which holds
// everything a workload needs to get a token.
func loadWorkload(ctx context.Context, c client.Client, ns, name string) (*workload, error) {
	obj, err := getCredential(ctx, c, ns, name)
	if err != nil {
		return nil, err
	}
	secretName := obj.Status.SecretName
	if secretName == "" {
		secretName = obj.Spec.SecretName
	}
	if secretName == "" {
		secretName = obj.Name
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: secretName}, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("the workload Secret %q of ClientCredential %q does not exist yet; see: kubectl signet status -n %s clientcredential/%s", secretName, name, ns, name)
		}
		return nil, fmt.Errorf("reading the workload Secret %q: %w", secretName, err)
	}
	w := &workload{obj: obj, data: map[string]string{}}
	for k, v := range s.Data {
		w.data[k] = string(v)
	}
	if w.data[keyClientID] == "" || w.data[keyTokenURL] == "" {
		return nil, fmt.Errorf("the workload Secret %q has no %s or %s yet; see: kubectl signet status -n %s clientcredential/%s", secretName, keyClientID, keyTokenURL, ns, name)
	}
	return w, nil
}
