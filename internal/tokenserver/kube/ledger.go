package kube

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/lru"

	"github.com/signet-iam/signet/internal/record"
)

// ComponentLedger marks a client's ledger ConfigMap: the one object that
// holds all of one client's cross-replica token-server state.
const ComponentLedger = "token-ledger"

// Caps on one client's ledger (docs/design/0020-token-server-state.md).
const (
	// MaxUsedAssertions is how many assertion jtis one client may have
	// outstanding (used and not yet expired, at most 5.5 minutes each).
	// Past it, private_key_jwt requests of that client get 429
	// (temporarily_unavailable) with Retry-After until the oldest expires:
	// about 3 assertions a second, sustained, per client.
	MaxUsedAssertions = 1024
	// MaxRevokedTokens is how many revoked access tokens one client may
	// have listed. Past it, the client's not-before moves to now, which
	// revokes every token the client holds (RFC 7009 2.1 allows revoking
	// more than asked), and the list is emptied.
	MaxRevokedTokens = 128
	// MaxTokenLifetime is the longest access-token lifetime the API
	// allows; a not-before is kept this long after it was set.
	MaxTokenLifetime = 24 * time.Hour
	// maxAttempts bounds the optimistic-concurrency retries of one write.
	maxAttempts = 8
)

// Data keys of a ledger ConfigMap.
const (
	dataClientID   = "client_id"
	dataAssertions = "assertions"
	dataRevoked    = "revoked"
	dataNotBefore  = "not_before"
	// dataJTI is the key of a legacy per-token revoked ConfigMap.
	dataJTI = "jti"
)

// ErrLedgerFull is returned when a client has MaxUsedAssertions
// outstanding; RetryAfter on the *FullError says when one expires.
var ErrLedgerFull = errors.New("the client has too many outstanding assertions")

// FullError is ErrLedgerFull with the time until a slot frees up.
type FullError struct{ RetryAfter time.Duration }

func (e *FullError) Error() string { return ErrLedgerFull.Error() }
func (e *FullError) Unwrap() error { return ErrLedgerFull }

// RetryAfterDuration is how long until one of the client's assertions
// expires.
func (e *FullError) RetryAfterDuration() time.Duration { return e.RetryAfter }

// Ledger writes the token server's state through the API server, where
// every replica sees it and a restart does not lose it. Each client has one
// ConfigMap (LedgerName), so what is stored grows with the number of
// clients, never with the number of requests. Every write is an update
// preconditioned on the resourceVersion read (or a create that fails if the
// object exists): that is the atomic check-and-set that makes a jti
// single-use across replicas.
type Ledger struct {
	Client    kubernetes.Interface
	Namespace string
	// Timeout bounds each write, so a slow API server makes a request fail
	// (closed) rather than hang.
	Timeout time.Duration
	// Cached, when set, returns the informer's copy of a ledger, saving a
	// read before most writes. A stale copy only costs a conflict and a
	// fresh read.
	Cached func(name string) *corev1.ConfigMap
	// Now is the clock. Default: time.Now.
	Now func() time.Time

	// stripes serialise writes to one client's ledger within this replica,
	// so that concurrent requests queue here instead of conflicting at
	// the API server.
	stripes [64]sync.Mutex
	// written holds the API server's answer to this replica's latest
	// writes of the most recently written ledgers. The informer's copy
	// lags behind them, and writing over a copy older than our own last
	// write would only cost a conflict and a read: a revocation writes
	// the client's ledger twice in a row (its assertion, then the
	// revocation), and a busy client's grants follow each other closely.
	writtenOnce sync.Once
	written     *lru.Cache
}

// recentWrites bounds Ledger.written: ledgers are at most about 40 KB.
const recentWrites = 1024

func (l *Ledger) recent() *lru.Cache {
	l.writtenOnce.Do(func() { l.written = lru.New(recentWrites) })
	return l.written
}

// latest is the newest copy of a ledger this replica knows without a
// read: its own last write, else the informer's copy. Either may be older
// than the truth (another replica wrote since); the write then conflicts
// and update reads the truth.
func (l *Ledger) latest(name string) *corev1.ConfigMap {
	if v, ok := l.recent().Get(name); ok {
		return v.(*corev1.ConfigMap)
	}
	if l.Cached != nil {
		return l.Cached(name)
	}
	return nil
}

// LedgerName is the name of a client's ledger ConfigMap.
func LedgerName(clientID string) string {
	sum := sha256.Sum256([]byte(clientID))
	return "signet-ledger-" + hex.EncodeToString(sum[:20])
}

// State is one client's ledger, decoded. Expiry times are whole seconds.
type State struct {
	ClientID string
	// Assertions maps the digest of each used assertion jti to its exp.
	Assertions map[string]time.Time
	// Revoked maps the jti of each revoked access token to its exp.
	Revoked map[string]time.Time
	// NotBefore: every token of the client issued before it is revoked.
	NotBefore time.Time
	// NotBeforeUntil is when NotBefore stops mattering: every token it
	// covers has expired.
	NotBeforeUntil time.Time
}

// UseAssertion records an assertion's jti in its client's ledger. It
// returns false when the jti was recorded before: the assertion is a
// replay. It fails with a *FullError when the client has too many
// assertions outstanding, and with another error when the use could not be
// recorded; the caller then fails closed.
func (l *Ledger) UseAssertion(ctx context.Context, clientID, jti string, exp time.Time) (bool, error) {
	digest := assertionDigest(jti)
	first := true
	err := l.update(ctx, clientID, func(s *State, now time.Time) (bool, error) {
		if _, ok := s.Assertions[digest]; ok {
			first = false
			return false, nil
		}
		if len(s.Assertions) >= MaxUsedAssertions {
			return false, &FullError{RetryAfter: s.oldestAssertion().Sub(now) + time.Second}
		}
		s.Assertions[digest] = ceilSecond(exp)
		first = true
		return true, nil
	})
	if err != nil {
		if errors.Is(err, ErrLedgerFull) {
			return false, err
		}
		return false, fmt.Errorf("recording the assertion's jti: %w", err)
	}
	return first, nil
}

// Revoke records that an access token, issued at issued, is revoked until
// exp. Revoking a token twice succeeds. Past MaxRevokedTokens the client's
// not-before moves forward instead.
func (l *Ledger) Revoke(ctx context.Context, jti, clientID string, issued, exp time.Time) error {
	err := l.update(ctx, clientID, func(s *State, now time.Time) (bool, error) {
		if _, ok := s.Revoked[jti]; ok || issued.Before(s.NotBefore) {
			return false, nil
		}
		if len(s.Revoked) < MaxRevokedTokens {
			s.Revoked[jti] = ceilSecond(exp)
			return true, nil
		}
		// Overflow: revoke everything the client holds. Every listed token
		// and this one were issued before now, so the list can go.
		s.NotBefore = now.Truncate(time.Millisecond).Add(time.Millisecond)
		s.NotBeforeUntil = ceilSecond(now.Add(MaxTokenLifetime))
		s.Revoked = map[string]time.Time{}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("recording the revocation: %w", err)
	}
	return nil
}

// update runs mutate on the client's ledger and writes the result,
// retrying on conflicts. mutate reports whether anything changed.
func (l *Ledger) update(ctx context.Context, clientID string, mutate func(*State, time.Time) (bool, error)) error {
	mu := &l.stripes[stripe(clientID)]
	mu.Lock()
	defer mu.Unlock()
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cms := l.Client.CoreV1().ConfigMaps(l.Namespace)
	name := LedgerName(clientID)
	cur := l.latest(name)
	for range maxAttempts {
		now := l.now()
		st := DecodeLedger(cur)
		st.ClientID = clientID
		st.prune(now)
		changed, err := mutate(st, now)
		if err != nil || !changed {
			// Without a change there is nothing to write. Even when cur came
			// from the cache this is the truth: a cached copy is only ever
			// older, and entries leave a ledger only once expired.
			return err
		}
		obj := st.encode(l.Namespace, name)
		var wrote *corev1.ConfigMap
		if cur == nil {
			wrote, err = cms.Create(ctx, obj, metav1.CreateOptions{})
		} else {
			obj.ResourceVersion = cur.ResourceVersion
			wrote, err = cms.Update(ctx, obj, metav1.UpdateOptions{})
		}
		switch {
		case err == nil:
			l.recent().Add(name, wrote)
			return nil
		case apierrors.IsAlreadyExists(err), apierrors.IsConflict(err), apierrors.IsNotFound(err) && cur != nil:
			// Another replica wrote first, or garbage collection removed
			// the object: read the truth and try again.
			got, gerr := cms.Get(ctx, name, metav1.GetOptions{})
			switch {
			case apierrors.IsNotFound(gerr):
				l.recent().Remove(name)
				cur = nil
			case gerr != nil:
				return gerr
			default:
				cur = got
			}
		default:
			return err
		}
	}
	return errors.New("too many concurrent writes to the client's ledger")
}

func (l *Ledger) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func stripe(clientID string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(clientID))
	return int(h.Sum32() % 64)
}

// assertionDigest shortens a jti (up to 256 characters of the client's
// choosing) to 128 bits: enough that no two jtis of one client collide.
func assertionDigest(jti string) string {
	sum := sha256.Sum256([]byte(jti))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

func ceilSecond(t time.Time) time.Time {
	return t.Add(time.Second - 1).Truncate(time.Second).UTC()
}

func (s *State) prune(now time.Time) {
	for k, exp := range s.Assertions {
		if !now.Before(exp) {
			delete(s.Assertions, k)
		}
	}
	for k, exp := range s.Revoked {
		if !now.Before(exp) {
			delete(s.Revoked, k)
		}
	}
	if !s.NotBeforeUntil.IsZero() && !now.Before(s.NotBeforeUntil) {
		s.NotBefore, s.NotBeforeUntil = time.Time{}, time.Time{}
	}
}

func (s *State) oldestAssertion() time.Time {
	var oldest time.Time
	for _, exp := range s.Assertions {
		if oldest.IsZero() || exp.Before(oldest) {
			oldest = exp
		}
	}
	return oldest
}

// ExpiresAt is when everything in the ledger has expired, so that garbage
// collection may delete it.
func (s *State) ExpiresAt() time.Time {
	last := s.NotBeforeUntil
	for _, m := range []map[string]time.Time{s.Assertions, s.Revoked} {
		for _, exp := range m {
			if exp.After(last) {
				last = exp
			}
		}
	}
	return last
}

// DecodeLedger reads a ledger ConfigMap. A nil or unreadable one decodes as
// empty, except that malformed entries are dropped one by one.
func DecodeLedger(cm *corev1.ConfigMap) *State {
	s := &State{Assertions: map[string]time.Time{}, Revoked: map[string]time.Time{}}
	if cm == nil {
		return s
	}
	s.ClientID = cm.Data[dataClientID]
	decodeEntries(cm.Data[dataAssertions], s.Assertions)
	decodeEntries(cm.Data[dataRevoked], s.Revoked)
	if f := strings.Fields(cm.Data[dataNotBefore]); len(f) == 2 {
		nb, err1 := strconv.ParseInt(f[0], 10, 64)
		until, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 == nil && err2 == nil {
			s.NotBefore, s.NotBeforeUntil = time.UnixMilli(nb).UTC(), time.Unix(until, 0).UTC()
		}
	}
	return s
}

// decodeEntries reads lines of "key unix-seconds".
func decodeEntries(data string, into map[string]time.Time) {
	for line := range strings.Lines(data) {
		key, sec, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(sec, 10, 64); err == nil && key != "" {
			into[key] = time.Unix(n, 0).UTC()
		}
	}
}

func encodeEntries(m map[string]time.Time) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.Grow(len(keys) * 36)
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(m[k].Unix(), 10))
		b.WriteByte('\n')
	}
	return b.String()
}

func (s *State) encode(namespace, name string) *corev1.ConfigMap {
	data := map[string]string{dataClientID: s.ClientID}
	if len(s.Assertions) > 0 {
		data[dataAssertions] = encodeEntries(s.Assertions)
	}
	if len(s.Revoked) > 0 {
		data[dataRevoked] = encodeEntries(s.Revoked)
	}
	if !s.NotBefore.IsZero() {
		data[dataNotBefore] = strconv.FormatInt(s.NotBefore.UnixMilli(), 10) + " " + strconv.FormatInt(s.NotBeforeUntil.Unix(), 10)
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   namespace,
			Labels:      map[string]string{record.LabelManagedBy: record.ManagedBy, record.LabelComponent: ComponentLedger},
			Annotations: map[string]string{record.AnnotationExpiresAt: s.ExpiresAt().Format(time.RFC3339)},
		},
		Data: data,
	}
}
