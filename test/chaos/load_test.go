//go:build chaos

package chaos

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	iamv1 "github.com/signet-iam/signet/api/v1alpha1"
	"github.com/signet-iam/signet/internal/testutil"
)

// service stands for the Kubernetes Service in front of the token-server
// replicas: requests to http://service go to a replica whose /readyz
// answers ok, in turn, and a request that fails there (no connection, or a
// 5xx) is sent once more to the other replica, as a client with one retry
// behind a Service sees it.
type service struct {
	replicas []string
	ready    []atomic.Bool
	next     atomic.Uint64
	retried  atomic.Int64
	client   *http.Client
}

const serviceHost = "service"

// newService starts following the replicas' readiness until ctx ends.
func newService(ctx context.Context, replicas []string) *service {
	s := &service{replicas: replicas, ready: make([]atomic.Bool, len(replicas))}
	s.client = &http.Client{Transport: s, Timeout: 10 * time.Second}
	for i := range replicas {
		s.ready[i].Store(true)
		go s.probe(ctx, i)
	}
	return s
}

// probe polls a replica's /readyz, as the kubelet's readiness probe does
// (every 100 ms here, so that routing follows a kill quickly).
func (s *service) probe(ctx context.Context, i int) {
	hc := &http.Client{Timeout: time.Second}
	for ctx.Err() == nil {
		resp, err := hc.Get(s.replicas[i] + "/readyz")
		ok := err == nil && resp.StatusCode == http.StatusOK
		if err == nil {
			_ = resp.Body.Close()
		}
		s.ready[i].Store(ok)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// RoundTrip sends req to a ready replica, and once more to another on
// failure.
func (s *service) RoundTrip(req *http.Request) (*http.Response, error) {
	if a, ok := req.Context().Value(singleUse{}).(*attempt); ok {
		// Sent once; its caller's retry, with a new body, avoids this
		// replica.
		a.replica = s.pick(a.replica)
		return s.send(req, a.replica)
	}
	first := s.pick(-1)
	resp, err := s.send(req, first)
	if err == nil && resp.StatusCode < 500 {
		return resp, nil
	}
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	s.retried.Add(1)
	return s.send(req, s.pick(first))
}

// pick returns the next ready replica other than not, or any other than
// not when none is ready.
func (s *service) pick(not int) int {
	n := len(s.replicas)
	start := int(s.next.Add(1))
	for k := range n {
		if i := (start + k) % n; i != not && s.ready[i].Load() {
			return i
		}
	}
	return (not + 1) % n
}

func (s *service) send(req *http.Request, i int) (*http.Response, error) {
	out := req.Clone(req.Context())
	target, err := url.Parse(s.replicas[i])
	if err != nil {
		return nil, err
	}
	out.URL.Scheme, out.URL.Host, out.Host = target.Scheme, target.Host, ""
	if req.GetBody != nil {
		if out.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	return http.DefaultTransport.RoundTrip(out)
}

// loadFixture holds the clients the load generator uses, in a namespace of
// their own: ClientSecret clients, one PrivateKeyJWT client, and an
// auditor entitled to introspect their tokens.
type loadFixture struct {
	secrets []map[string]string
	// jwtIDs are PrivateKeyJWT clients sharing jwtKey: several, because
	// each client's ledger holds at most 1,024 unexpired assertions
	// (docs/scale.md), which one client would pass at soak rates.
	jwtIDs   []string
	jwtKey   *ecdsa.PrivateKey
	auditor  map[string]string
	audience string
}

func newLoadFixture(t *testing.T, n int) *loadFixture {
	t.Helper()
	ctx := context.Background()
	ns := namespace(t, "chaos-load-")
	f := &loadFixture{audience: "https://orders.example.com/" + ns}
	var err error
	if f.jwtKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&f.jwtKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	objs := []client.Object{
		&iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "load", Namespace: ns}},
		&iamv1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "auditor", Namespace: ns}},
		&iamv1.AccessRule{ObjectMeta: metav1.ObjectMeta{Name: "load", Namespace: ns}, Spec: iamv1.AccessRuleSpec{
			Subjects: []iamv1.Subject{{Kind: "ServiceAccount", Name: "load"}}, Scopes: []string{"orders:read"}, Audiences: []string{f.audience}}},
		&iamv1.AccessRule{ObjectMeta: metav1.ObjectMeta{Name: "auditor", Namespace: ns}, Spec: iamv1.AccessRuleSpec{
			Subjects: []iamv1.Subject{{Kind: "ServiceAccount", Name: "auditor"}}, Scopes: []string{"signet:introspect:" + f.audience}}},
		&iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Name: "auditor", Namespace: ns}, Spec: iamv1.ClientCredentialSpec{ServiceAccountName: "auditor"}},
	}
	for i := range jwtClients {
		objs = append(objs, &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("jwt-%d", i), Namespace: ns}, Spec: iamv1.ClientCredentialSpec{
			ServiceAccountName: "load", Type: iamv1.PrivateKeyJWTType,
			PublicKeys: &iamv1.PublicKeys{PEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}}})
	}
	for i := range n {
		objs = append(objs, &iamv1.ClientCredential{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("load-%d", i), Namespace: ns},
			Spec: iamv1.ClientCredentialSpec{ServiceAccountName: "load"}})
	}
	for _, obj := range objs {
		if err := signet.Client.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	f.auditor = workloadSecret(t, ns, "auditor", "client_secret")
	for i := range n {
		f.secrets = append(f.secrets, workloadSecret(t, ns, fmt.Sprintf("load-%d", i), "client_secret"))
	}
	for i := range jwtClients {
		f.jwtIDs = append(f.jwtIDs, workloadSecret(t, ns, fmt.Sprintf("jwt-%d", i), "client_id")["client_id"])
	}
	// Every replica must know every client before the load starts.
	for _, base := range replicas {
		for _, c := range append([]map[string]string{f.auditor}, f.secrets...) {
			testutil.WaitFor(t, 30*time.Second, "a token from "+base, func() error { _, err := testutil.TokenAt(base, c); return err })
		}
		for range jwtClients {
			testutil.WaitFor(t, 30*time.Second, "a private_key_jwt token from "+base, func() error {
				_, err := f.jwtToken(context.Background(), base+"/oauth2/token")
				return err
			})
		}
	}
	return f
}

// workloadSecret waits for a workload Secret with key and returns its data.
func workloadSecret(t *testing.T, ns, name, key string) map[string]string {
	t.Helper()
	return testutil.WorkloadSecret(t, signet.Client, time.Minute, ns, name, key)
}

// singleUse marks a request whose body must not be sent twice: a client
// assertion is single-use (RFC 7523 section 3), so a replica that recorded
// its jti and died before answering would rightly refuse the same one
// again. Its caller retries with a new assertion instead.
type singleUse struct{}

// attempt is the context value under singleUse: the replica the last try
// went to (-1 before the first).
type attempt struct{ replica int }

// jwtClients is the number of PrivateKeyJWT clients of a load fixture.
const jwtClients = 4

var jtiSeq atomic.Int64

// jwtToken gets a token with private_key_jwt (RFC 7523) through the stock
// client, from tokenURL, as the next PrivateKeyJWT client in turn. Like the
// Service's one retry, it tries once more after a failure to reach a replica
// or a 5xx, but with a new assertion.
func (f *loadFixture) jwtToken(ctx context.Context, tokenURL string) (*oauth2.Token, error) {
	ctx = context.WithValue(ctx, singleUse{}, &attempt{replica: -1})
	tok, err := f.jwtTokenOnce(ctx, tokenURL)
	var re *oauth2.RetrieveError
	if err != nil && (!errors.As(err, &re) || re.Response.StatusCode >= 500) && ctx.Err() == nil {
		return f.jwtTokenOnce(ctx, tokenURL)
	}
	return tok, err
}

func (f *loadFixture) jwtTokenOnce(ctx context.Context, tokenURL string) (*oauth2.Token, error) {
	now := time.Now()
	seq := jtiSeq.Add(1)
	id := f.jwtIDs[int(seq)%len(f.jwtIDs)]
	// A short-lived assertion: its jti stays in the ledger until it expires
	// (plus the accepted clock skew).
	claims := jwt.RegisteredClaims{
		Issuer: id, Subject: id, Audience: jwt.ClaimStrings{signet.Issuer},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(15 * time.Second)),
		ID: fmt.Sprintf("chaos-%d-%d", now.UnixNano(), seq),
	}
	assertion, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(f.jwtKey)
	if err != nil {
		return nil, err
	}
	cfg := clientcredentials.Config{ClientID: id, TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {assertion},
		}}
	return cfg.Token(ctx)
}

// Operations the load generator runs.
const (
	opSecret     = "client_credentials"
	opJWT        = "private_key_jwt"
	opIntrospect = "introspection"
	opVerify     = "go-oidc verification"
)

// load drives the token servers through service until stopped.
type load struct {
	f       *loadFixture
	svc     *service
	verify  *oidc.IDTokenVerifier
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	withJWT atomic.Bool
	// limiter, when not nil, paces the rounds.
	limiter *rate.Limiter

	mu       sync.Mutex
	ok, fail map[string]int
	errs     []string
}

// startLoad runs the load generator with *workers clients. With jwt false
// it leaves out private_key_jwt, whose replay protection needs the API
// server (see docs/reliability.md).
func startLoad(t *testing.T, f *loadFixture, jwtOn bool) *load {
	t.Helper()
	return startPacedLoad(t, f, jwtOn, nil)
}

// startPacedLoad runs the load generator as startLoad does, its rounds
// paced by limiter (none when nil).
func startPacedLoad(t *testing.T, f *loadFixture, jwtOn bool, limiter *rate.Limiter) *load {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc := newService(ctx, replicas)
	// An API's verifier: go-oidc fetches the JWKS again when a token names
	// a kid it does not know.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(ctx, svc.client), "http://"+serviceHost+"/oauth2/jwks")
	l := &load{f: f, svc: svc, cancel: cancel, limiter: limiter, ok: map[string]int{}, fail: map[string]int{},
		verify: oidc.NewVerifier(signet.Issuer, keys, &oidc.Config{SkipClientIDCheck: true, SupportedSigningAlgs: []string{oidc.ES256, oidc.EdDSA, oidc.RS256}})}
	l.withJWT.Store(jwtOn)
	for w := range *workers {
		l.wg.Add(1)
		go l.work(ctx, w)
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) work(ctx context.Context, w int) {
	defer l.wg.Done()
	cctx := context.WithValue(ctx, oauth2.HTTPClient, l.svc.client)
	for i := w; ctx.Err() == nil; i += *workers {
		if l.limiter != nil && l.limiter.Wait(ctx) != nil {
			return
		}
		creds := l.f.secrets[i%len(l.f.secrets)]
		cfg := clientcredentials.Config{ClientID: creds["client_id"], ClientSecret: creds["client_secret"],
			TokenURL: "http://" + serviceHost + "/oauth2/token", AuthStyle: oauth2.AuthStyleInHeader}
		tok, err := cfg.Token(cctx)
		if !l.note(ctx, opSecret, err) {
			continue
		}
		_, err = l.verify.Verify(ctx, tok.AccessToken)
		l.note(ctx, opVerify, err)
		l.note(ctx, opIntrospect, l.introspect(ctx, tok.AccessToken))
		if i%4 == 0 && l.withJWT.Load() {
			tok, err := l.f.jwtToken(cctx, "http://"+serviceHost+"/oauth2/token")
			if l.note(ctx, opJWT, err) {
				_, err = l.verify.Verify(ctx, tok.AccessToken)
				l.note(ctx, opVerify, err)
			}
		}
	}
}

func (l *load) introspect(ctx context.Context, token string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+serviceHost+"/oauth2/introspect",
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(l.f.auditor["client_id"], l.f.auditor["client_secret"])
	resp, err := l.svc.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"active":true`) {
		return fmt.Errorf("introspection: HTTP %d %s", resp.StatusCode, body)
	}
	return nil
}

// note counts one operation's outcome and reports whether it succeeded.
// Failures caused by stopping the load are not counted.
func (l *load) note(ctx context.Context, op string, err error) bool {
	if err != nil && (ctx.Err() != nil || errors.Is(err, context.Canceled)) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.ok[op]++
		return true
	}
	l.fail[op]++
	if len(l.errs) < 10 {
		l.errs = append(l.errs, fmt.Sprintf("%s %s: %v", time.Now().UTC().Format("15:04:05.000"), op, err))
	}
	return false
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

// check stops the load and fails the test unless every operation
// succeeded (after the one retry), and unless there was load at all.
func (l *load) check(t *testing.T) {
	t.Helper()
	l.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	total, failed := 0, 0
	var parts []string
	for _, op := range []string{opSecret, opJWT, opIntrospect, opVerify} {
		total += l.ok[op] + l.fail[op]
		failed += l.fail[op]
		if l.ok[op]+l.fail[op] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d ok %d failed", op, l.ok[op], l.fail[op]))
		}
	}
	result(t, "%d requests, %d failed after one retry, %d retried on the other replica (%s)",
		total, failed, l.svc.retried.Load(), strings.Join(parts, ", "))
	if l.ok[opSecret] == 0 {
		t.Error("the load generator sent no successful request at all")
	}
	if failed > 0 {
		t.Errorf("%d requests failed after one retry; first: %s", failed, strings.Join(l.errs, "; "))
	}
}

// failed returns how many operations failed so far.
func (l *load) failed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, v := range l.fail {
		n += v
	}
	return n
}

// tokens returns how many client_credentials tokens were issued so far:
// one per round of the load.
func (l *load) tokens() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok[opSecret]
}
