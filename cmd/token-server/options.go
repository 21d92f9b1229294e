package main

import (
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/url"
	"time"
)

type options struct {
	namespace       string
	issuer          string
	listen          string
	probeListen     string
	tlsCertFile     string
	tlsKeyFile      string
	defaultAudience string
	gcInterval      time.Duration
	shutdownTimeout time.Duration
	kubeAPIQPS      float64
	kubeAPIBurst    int
	verbose         bool
	kubeTokenFile   string
	kubeCAFile      string
	replicaName     string
	reportInterval  time.Duration
	reportTimeout   time.Duration
}

func (o *options) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.namespace, "namespace", "signet-system", "The Signet namespace: the only namespace the token server reads or writes.")
	fs.StringVar(&o.issuer, "issuer", "", "Issuer identifier (required, an absolute URL): the iss of every token and the only audience accepted in client assertions.")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8080", "Address of the OAuth2 endpoints. Plain HTTP only on a loopback address; elsewhere --tls-cert-file and --tls-key-file are required.")
	fs.StringVar(&o.probeListen, "probe-listen", "", "Separate plain-HTTP address for /healthz, /readyz and /metrics. Empty: serve them on --listen.")
	fs.StringVar(&o.tlsCertFile, "tls-cert-file", "", "PEM certificate chain; reloaded when the file changes.")
	fs.StringVar(&o.tlsKeyFile, "tls-key-file", "", "PEM private key of the certificate; reloaded when the file changes.")
	fs.StringVar(&o.defaultAudience, "default-audience", "", "aud of tokens whose client has no audiences granted. Default: the issuer.")
	fs.DurationVar(&o.gcInterval, "gc-interval", 10*time.Minute, "Mean interval between garbage collections of expired used-assertion and revoked-token ConfigMaps (jittered by up to half).")
	fs.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 20*time.Second, "How long to let in-flight requests finish on SIGTERM.")
	fs.Float64Var(&o.kubeAPIQPS, "kube-api-qps", 1000, "Requests per second to the API server, almost all of them ledger writes (one per private_key_jwt grant and per revocation): this replica's write budget. Past it, requests wait, and fail with 503 after 5 seconds.")
	fs.IntVar(&o.kubeAPIBurst, "kube-api-burst", 1000, "Burst of requests to the API server above --kube-api-qps.")
	fs.BoolVar(&o.verbose, "v", false, "Log at debug level.")
	fs.StringVar(&o.kubeTokenFile, "kube-token-file", "", "Authenticate to the in-cluster API server with the ServiceAccount token in this file, re-read as it changes, instead of the Pod's automounted token. The chart's sidecar layout sets it: the manager writes a token of the token server's own account there.")
	fs.StringVar(&o.kubeCAFile, "kube-ca-file", "", "CA bundle of the API server, with --kube-token-file.")
	fs.StringVar(&o.replicaName, "replica-name", "", "Name of this replica in its report Lease (signet-report-<name>). Default: the host name, which is the Pod name in Kubernetes.")
	fs.DurationVar(&o.reportInterval, "report-interval", time.Second, "Least time between two writes of this replica's report (what it applied, last uses of previous secrets); it is written only when it changed, and every third of --report-timeout to stay counted.")
	fs.DurationVar(&o.reportTimeout, "report-timeout", 15*time.Second, "How long after its last write this replica's report counts; a replica silent for longer no longer holds back Propagated (1s to 5m).")
}

func (o *options) logLevel() slog.Level {
	if o.verbose {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

func (o *options) tls() bool { return o.tlsCertFile != "" }

func (o *options) validate() error {
	u, err := url.Parse(o.issuer)
	switch {
	case o.issuer == "":
		return errors.New("--issuer is required")
	case err != nil || !u.IsAbs() || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
		return errors.New("--issuer must be an absolute URL without query or fragment")
	case o.namespace == "":
		return errors.New("--namespace must not be empty")
	case o.kubeAPIQPS < 0 || o.kubeAPIBurst < 0:
		return errors.New("--kube-api-qps and --kube-api-burst must not be negative")
	case (o.tlsCertFile == "") != (o.tlsKeyFile == ""):
		return errors.New("--tls-cert-file and --tls-key-file go together")
	case o.reportInterval < 0 || o.reportTimeout < 0:
		return errors.New("--report-interval and --report-timeout must not be negative")
	case o.reportTimeout != 0 && (o.reportTimeout < time.Second || o.reportTimeout > 5*time.Minute || o.reportTimeout < 2*o.reportInterval):
		return errors.New("--report-timeout must be between 1s and 5m and at least twice --report-interval")
	case o.kubeCAFile != "" && o.kubeTokenFile == "":
		return errors.New("--kube-ca-file needs --kube-token-file")
	case !o.tls() && !isLoopback(o.listen):
		return errors.New("refusing to serve plain HTTP on a non-loopback address: set --tls-cert-file and --tls-key-file, or listen on 127.0.0.1 or [::1]")
	}
	return nil
}

// isLoopback reports whether addr binds only loopback interfaces. An empty
// host binds every interface, so it is not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
