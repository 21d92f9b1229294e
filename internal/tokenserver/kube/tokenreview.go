package kube

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/signet-iam/signet/internal/tokenserver/clientauth"
)

// Bounds of the TokenReview cache.
const (
	// ReviewCacheTTL is how long a review's answer is reused. Deleting the
	// pod or the ServiceAccount a token is bound to makes the next exchange
	// fail within this much (plus the API server's own reaction).
	ReviewCacheTTL = 5 * time.Second
	// reviewCacheSize bounds the cache; when full it is emptied, which
	// costs at most one review per token.
	reviewCacheSize = 10000
)

// Reviewer checks this cluster's ServiceAccount tokens with the
// TokenReview API (verb create on tokenreviews, the token server's only
// cluster-wide permission), caching answers for ReviewCacheTTL by a hash of
// the token and the audience; the token itself is never kept.
type Reviewer struct {
	Client kubernetes.Interface
	Now    func() time.Time

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cachedReview
}

type cachedReview struct {
	review clientauth.Review
	until  time.Time
}

var _ clientauth.TokenReviewer = (*Reviewer)(nil)

func (r *Reviewer) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Review asks the API server whether token is valid for audience now.
func (r *Reviewer) Review(ctx context.Context, token, audience string) (clientauth.Review, error) {
	key := sha256.Sum256([]byte(audience + "\x00" + token))
	now := r.now()
	r.mu.Lock()
	if c, ok := r.cache[key]; ok && now.Before(c.until) {
		r.mu.Unlock()
		return c.review, nil
	}
	r.mu.Unlock()
	tr, err := r.Client.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{
		Spec: authnv1.TokenReviewSpec{Token: token, Audiences: []string{audience}},
	}, metav1.CreateOptions{})
	if err != nil {
		return clientauth.Review{}, err
	}
	review := clientauth.Review{
		Authenticated: tr.Status.Authenticated && tr.Status.Error == "",
		Username:      tr.Status.User.Username,
		Audiences:     tr.Status.Audiences,
	}
	r.mu.Lock()
	if r.cache == nil || len(r.cache) >= reviewCacheSize {
		r.cache = map[[sha256.Size]byte]cachedReview{}
	}
	r.cache[key] = cachedReview{review: review, until: now.Add(ReviewCacheTTL)}
	r.mu.Unlock()
	return review, nil
}
