package kube

import (
	"context"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
)

// Reviewer checks this cluster's ServiceAccount tokens with the
// TokenReview API (verb create on tokenreviews, the token server's only
// cluster-wide permission).
//
// It keeps no cache of its own: kube-apiserver already caches successful
// token authentications for 10 s (a fixed TTL of its token authenticator),
// which is what spares it repeated work for one token, and any cache here
// would add to that delay. So deleting the pod a token is bound to, or its
// ServiceAccount, makes the next exchange fail within those 10 s
// (docs/design/0027-workload-identity-federation.md).
type Reviewer struct {
	Client kubernetes.Interface
}

var _ clientauth.TokenReviewer = (*Reviewer)(nil)

// Review asks the API server whether token is valid for audience now.
func (r *Reviewer) Review(ctx context.Context, token, audience string) (clientauth.Review, error) {
	tr, err := r.Client.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return clientauth.Review{}, err
	}
	return clientauth.Review{
		Authenticated: tr.Status.Authenticated && tr.Status.Error == "",
		Username:      tr.Status.User.Username,
		Audiences:     tr.Status.Audiences,
	}, nil
}
