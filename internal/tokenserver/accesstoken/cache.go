package accesstoken

import (
	"time"

	"k8s.io/utils/lru"

	"github.com/signet-iam/signet/internal/signing"
)

// Cache remembers the claims of tokens that verified, so that an API
// introspecting the same token on every call pays for its signature once:
// an ES256 verification costs about 70 µs, the rest of an introspection a
// few. Only the signature and the token's own claims are cached; the
// caller still checks revocation and the client's record every time.
//
// An entry is used only while the key set is the one it verified under
// (any change to the set, such as a retired key removed, re-verifies),
// that key still verifies at now, and the token has not expired. The token
// itself is the key, compared whole, so no other string can hit an entry.
type Cache struct {
	lru *lru.Cache
}

// NewCache returns a cache of at most size tokens, least recently used
// first out. Signet's tokens are under 2 KiB, so 10,000 take at most 20 MB.
func NewCache(size int) *Cache { return &Cache{lru: lru.New(size)} }

type cached struct {
	keys   *signing.KeySet
	issuer string
	kid    string
	claims *Claims
}

// Verify is Verify through the cache. The claims returned are shared:
// callers must not change them.
func (c *Cache) Verify(token string, keys *signing.KeySet, issuer string, now time.Time) (*Claims, error) {
	if v, ok := c.lru.Get(token); ok {
		e := v.(*cached)
		if e.keys == keys && keys != nil && e.issuer == issuer &&
			now.Before(e.claims.ExpiresAt.Time) && keys.Lookup(e.kid, now) != nil {
			return e.claims, nil
		}
		c.lru.Remove(token)
	}
	claims, kid, err := verify(token, keys, issuer, now)
	if err != nil {
		return nil, err
	}
	c.lru.Add(token, &cached{keys: keys, issuer: issuer, kid: kid, claims: claims})
	return claims, nil
}
