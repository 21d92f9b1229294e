package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/signet-iam/signet/internal/record"
	"github.com/signet-iam/signet/internal/tokenserver/fixture"
	"github.com/signet-iam/signet/internal/tokenserver/kube"
)

// pkjwt takes cfg.grants tokens with private_key_jwt from cfg.clients
// clients, revokes cfg.revokes of them, and reports tokens/s, revocations/s,
// the CPU each process used, and the objects and etcd size before and
// after.
func (b *bench) pkjwt() error {
	const ns = "scale-pkjwt"
	fx, err := b.namespace(ns)
	if err != nil {
		return err
	}
	clients := make([]*fixture.Client, b.cfg.clients)
	err = b.writeClients(fx, ns, clients, 16, func(i int) (*fixture.Client, error) {
		return fx.NewClient(record.TypePrivateKeyJWT, fmt.Sprintf("signer-%05d", i), []string{"orders:read"}, nil)
	})
	if err != nil {
		return err
	}
	ts, err := b.startTokenServer(ns)
	if err != nil {
		return err
	}
	defer ts.stop()
	if err := ts.waitReady(time.Minute); err != nil {
		return err
	}
	b.objects("before", ns)

	tokens := make([]string, b.cfg.grants)
	fmt.Printf("Grants: %d private_key_jwt tokens from %d clients, %d concurrent callers\n", b.cfg.grants, len(clients), b.cfg.concurrent)
	stopProfile := b.profileAPIServer()
	meter := newCPUMeter(b.processes(ts))
	rate, err := b.drive(b.cfg.grants, func(i int) (int, error) {
		c := clients[i%len(clients)]
		a, err := assertion(c)
		if err != nil {
			return 0, err
		}
		code, body, err := post(ts.url+"/oauth2/token", assertionForm(a), "", "")
		if code == http.StatusOK {
			var r struct {
				AccessToken string `json:"access_token"`
			}
			err = json.Unmarshal(body, &r)
			tokens[i] = r.AccessToken
		}
		return code, err
	})
	if err != nil {
		return err
	}
	b.results["grants.cpuCores"] = meter.done(b.cfg.grants, "token")
	stopProfile()
	b.report("grants.tokensPerSecond", rate, "  %.0f tokens/s (target ≥ 1,000)", rate)
	b.objects("afterGrants", ns)

	revokes := min(b.cfg.revokes, b.cfg.grants)
	fmt.Printf("Revocations: %d, each authenticated with a new assertion\n", revokes)
	meter = newCPUMeter(b.processes(ts))
	rate, err = b.drive(revokes, func(i int) (int, error) {
		c := clients[i%len(clients)]
		if tokens[i] == "" {
			return 0, fmt.Errorf("grant %d got no token", i)
		}
		a, err := assertion(c)
		if err != nil {
			return 0, err
		}
		code, _, err := post(ts.url+"/oauth2/revoke", assertionForm(a, "token", tokens[i]), "", "")
		return code, err
	})
	if err != nil {
		return err
	}
	b.results["revocations.cpuCores"] = meter.done(revokes, "revocation")
	b.report("revocations.perSecond", rate, "  %.0f revocations/s", rate)
	b.objects("afterRevocations", ns)
	return nil
}

// drive runs n calls of fn on cfg.concurrent callers and reports the rate
// of calls answered 200, their latency, and the other answers by status.
func (b *bench) drive(n int, fn func(i int) (int, error)) (float64, error) {
	var (
		mu      sync.Mutex
		lat     = make([]time.Duration, 0, n)
		status  = map[int]int{}
		errs    atomic.Int64
		lastErr atomic.Value
	)
	start := time.Now()
	_ = parallel(b.ctx, n, b.cfg.concurrent, func(i int) error {
		t := time.Now()
		code, err := fn(i)
		d := time.Since(t)
		if err != nil {
			errs.Add(1)
			lastErr.Store(err)
			return nil
		}
		mu.Lock()
		status[code]++
		if code == http.StatusOK {
			lat = append(lat, d)
		}
		mu.Unlock()
		return nil
	})
	elapsed := time.Since(start)
	p50, p99, maxD := percentiles(lat)
	fmt.Printf("  %d in %.1fs; statuses %v; %d errors; latency p50 %v, p99 %v, max %v\n",
		n, elapsed.Seconds(), status, errs.Load(), p50.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), maxD.Round(time.Millisecond))
	if e := errs.Load(); e > 0 {
		return 0, fmt.Errorf("%d calls failed, the last with %v", e, lastErr.Load())
	}
	return float64(status[http.StatusOK]) / elapsed.Seconds(), nil
}

// objects reports the namespace's ConfigMaps, the ledgers among them and
// their largest size, and etcd's size and key count.
func (b *bench) objects(when, ns string) {
	all, err := b.cs.CoreV1().ConfigMaps(ns).List(b.ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Println("  listing ConfigMaps:", err)
		return
	}
	ledgers, largest := 0, 0
	for _, cm := range all.Items {
		if cm.Labels[record.LabelComponent] != kube.ComponentLedger {
			continue
		}
		ledgers++
		size := 0
		for _, v := range cm.Data {
			size += len(v)
		}
		largest = max(largest, size)
	}
	db, inUse, keys := b.etcdMetrics()
	fmt.Printf("  %s: %d ConfigMaps (%d ledgers, the largest %d bytes); etcd %.1f MB (%.1f MB in use), %.0f keys\n",
		when, len(all.Items), ledgers, largest, db/1e6, inUse/1e6, keys)
	b.results["objects."+when] = map[string]float64{
		"configMaps": float64(len(all.Items)), "ledgers": float64(ledgers), "largestLedgerBytes": float64(largest),
		"etcdBytes": db, "etcdInUseBytes": inUse, "etcdKeys": keys,
	}
}

// profileAPIServer starts a CPU profile of kube-apiserver when asked and
// returns the function that writes it.
func (b *bench) profileAPIServer() func() {
	if b.cfg.profileAPI == "" {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		data, err := b.cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", "20").Timeout(time.Minute).DoRaw(b.ctx)
		if err == nil {
			err = os.WriteFile(b.cfg.profileAPI, data, 0o644)
		}
		if err != nil {
			fmt.Println("  profiling kube-apiserver:", err)
			return
		}
		fmt.Println("  kube-apiserver CPU profile (the first 20 s of the grants):", b.cfg.profileAPI)
	}()
	return func() { <-done }
}

func assertionForm(assertion string, extra ...string) url.Values {
	f := url.Values{"grant_type": {"client_credentials"}, "client_assertion": {assertion},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	if len(extra) > 0 {
		f.Del("grant_type")
	}
	return f
}

// assertion signs a client assertion (RFC 7523) with a fresh jti.
func assertion(c *fixture.Client) (string, error) {
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(c.Algorithm), jwt.MapClaims{
		"iss": c.ID(), "sub": c.ID(), "aud": issuer, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti),
	})
	tok.Header["kid"] = c.KeyID
	return tok.SignedString(c.PrivateKey)
}
