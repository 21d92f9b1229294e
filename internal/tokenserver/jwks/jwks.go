// Package jwks fetches and caches the signing keys of the OIDC issuers that
// Federated credentials trust, so that the token server verifies a
// workload's token without a request to its issuer on the hot path.
//
// Keys are found through the issuer's discovery document (or a configured
// JWKS URL), kept for RefreshAfter, and refetched then or when a token names
// an unknown kid, at most once per MinRefresh per issuer, so that tokens
// with made-up kids cannot turn the token server into a load generator
// against the issuer. While the issuer is unreachable the cached keys keep
// serving until MaxStale after their last successful fetch.
//
// Only issuers named in credential records are ever fetched: a token's own
// iss never chooses a URL.
package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults of the Cache's bounds.
const (
	DefaultRefreshAfter = 5 * time.Minute
	DefaultMinRefresh   = 10 * time.Second
	DefaultMaxStale     = 24 * time.Hour
	// maxBody bounds a discovery document or key set.
	maxBody = 1 << 20
	// maxKeys bounds the keys kept per issuer.
	maxKeys = 64
	// fetchTimeout bounds one fetch, so that a slow issuer does not hold
	// the exchanges waiting on it for long.
	fetchTimeout = 5 * time.Second
)

// Errors of Key. Neither holds the issuer's response.
var (
	// ErrUnknownKey: the issuer's current keys hold no key with that kid.
	ErrUnknownKey = errors.New("the issuer publishes no key with this kid")
	// ErrUnavailable: no usable keys are cached and the issuer could not be
	// reached (or answered with something that is not a key set).
	ErrUnavailable = errors.New("the issuer's keys could not be fetched")
)

// Cache holds the keys of several issuers. The zero value is not usable:
// set Client (nil means http.DefaultClient) and leave the durations zero
// for the defaults.
type Cache struct {
	Client       *http.Client
	Now          func() time.Time
	RefreshAfter time.Duration
	MinRefresh   time.Duration
	MaxStale     time.Duration

	mu      sync.Mutex
	issuers map[string]*issuer
}

// issuer is one issuer's keys. Readers load state without locking; fetches
// are serialised by mu, so a burst of unknown kids makes one request.
type issuer struct {
	mu          sync.Mutex
	state       atomic.Pointer[keyState]
	lastAttempt time.Time
}

type keyState struct {
	keys    []jose.JSONWebKey
	fetched time.Time
}

func (c *Cache) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func (c *Cache) issuer(iss, jwksURL string) *issuer {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.issuers == nil {
		c.issuers = map[string]*issuer{}
	}
	k := iss + "\x00" + jwksURL
	is := c.issuers[k]
	if is == nil {
		is = &issuer{}
		c.issuers[k] = is
	}
	return is
}

// Key returns the issuer's public key with kid ("" picks the only key).
// jwksURL, when set, replaces discovery.
func (c *Cache) Key(ctx context.Context, iss, jwksURL, kid string) (*jose.JSONWebKey, error) {
	is := c.issuer(iss, jwksURL)
	now := c.now()
	st := is.state.Load()
	fresh := st != nil && now.Sub(st.fetched) < or(c.RefreshAfter, DefaultRefreshAfter)
	if fresh {
		if k := find(st.keys, kid); k != nil {
			return k, nil
		}
	}
	// Stale, never fetched, or an unknown kid: refresh, at a bounded rate.
	st = c.refresh(ctx, is, iss, jwksURL, st)
	if st == nil || now.Sub(st.fetched) >= or(c.MaxStale, DefaultMaxStale) {
		return nil, ErrUnavailable
	}
	if k := find(st.keys, kid); k != nil {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// refresh fetches the keys unless another fetch happened within MinRefresh,
// and returns the keys in force afterwards: the new ones, or the old ones
// when the fetch failed or was not due.
func (c *Cache) refresh(ctx context.Context, is *issuer, iss, jwksURL string, seen *keyState) *keyState {
	is.mu.Lock()
	defer is.mu.Unlock()
	if st := is.state.Load(); st != seen {
		return st // another caller refreshed while this one waited
	}
	now := c.now()
	if !is.lastAttempt.IsZero() && now.Sub(is.lastAttempt) < or(c.MinRefresh, DefaultMinRefresh) {
		return seen
	}
	is.lastAttempt = now
	keys, err := c.fetch(ctx, iss, jwksURL)
	if err != nil {
		return seen
	}
	st := &keyState{keys: keys, fetched: now}
	is.state.Store(st)
	return st
}

func find(keys []jose.JSONWebKey, kid string) *jose.JSONWebKey {
	if kid == "" {
		if len(keys) == 1 {
			return &keys[0]
		}
		return nil
	}
	for i := range keys {
		if keys[i].KeyID == kid {
			return &keys[i]
		}
	}
	return nil
}

func (c *Cache) fetch(ctx context.Context, iss, jwksURL string) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	if jwksURL == "" {
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		if err := c.get(ctx, strings.TrimSuffix(iss, "/")+"/.well-known/openid-configuration", &doc); err != nil {
			return nil, err
		}
		// OpenID Connect Discovery 4.3: the document must name the issuer
		// it was fetched for.
		if doc.Issuer != iss || doc.JWKSURI == "" {
			return nil, errors.New("the discovery document names another issuer or no jwks_uri")
		}
		jwksURL = doc.JWKSURI
	}
	var set jose.JSONWebKeySet
	if err := c.get(ctx, jwksURL, &set); err != nil {
		return nil, err
	}
	var keys []jose.JSONWebKey
	for _, k := range set.Keys {
		if k.IsPublic() && k.Valid() && k.Use != "enc" && len(keys) < maxKeys {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("the key set holds no public signing key")
	}
	return keys, nil
}

func (c *Cache) get(ctx context.Context, url string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	client := c.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(into)
}
