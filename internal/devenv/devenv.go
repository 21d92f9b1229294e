// Package devenv runs Signet the way "make dev" and the end-to-end tests do:
// the local control plane (etcd and kube-apiserver from bin/k8s, started by
// envtest, and kube-controller-manager for namespace deletion and garbage
// collection), the Signet namespace, and the real manager and one or more
// token-server binaries as child processes, with an admin kubeconfig written
// to disk.
package devenv

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/signet-iam/signet/internal/testenv"
)

// Options configure an environment.
type Options struct {
	// Dir receives the kubeconfig and the processes' logs.
	Dir string
	// ManagerBin and TokenServerBin are the binaries to run.
	ManagerBin, TokenServerBin string
	// Listen is the token server's address; "127.0.0.1:0" picks a free port.
	Listen string
	// TokenServers is the number of token-server replicas; default 1. The
	// first listens on Listen, the others on free loopback ports; all share
	// one issuer (the first's URL), as replicas behind one Service do.
	TokenServers int
	// Namespace is the Signet namespace. Default signet-system.
	Namespace string
	// Output, when set, also receives the processes' logs.
	Output io.Writer
	// ManagerMetrics is the manager's metrics address; "127.0.0.1:0" picks
	// a free port. On loopback the manager serves plain HTTP without
	// authentication, which suits a developer's machine. Empty switches
	// metrics off.
	ManagerMetrics string
	// Managers is the number of manager replicas; default 1. With more than
	// one they elect a leader through their Lease and the others stand by,
	// each with its own metrics port (ManagerMetricsURLs).
	Managers int
	// ManagerArgs are extra flags for every manager replica.
	ManagerArgs []string
	// ControllerManagerLater starts without kube-controller-manager when
	// it is not built yet (make dev's first run builds it in the
	// background); StartControllerManager starts it later.
	ControllerManagerLater bool
	// TokenServerArgs are extra flags for every token-server replica.
	TokenServerArgs []string
}

// Environment is a running Signet.
type Environment struct {
	*testenv.Environment
	// Client reaches the API server as an administrator.
	Client client.Client
	// Kubeconfig is the path of the admin kubeconfig.
	Kubeconfig string
	// Issuer is the token server's URL, http://127.0.0.1:<port>.
	Issuer string
	// Replicas are the base URLs of the token-server replicas, Issuer first.
	Replicas []string
	// ControllerManager is the running kube-controller-manager.
	ControllerManager *testenv.ControllerManager
	// Namespace is the Signet namespace.
	Namespace string
	// ManagerMetricsURL is the manager's metrics endpoint,
	// http://127.0.0.1:<port>/metrics, when Options.ManagerMetrics is set.
	ManagerMetricsURL string
	// ManagerMetricsURLs are the metrics endpoints of the manager replicas
	// when Options.Managers is above one, the first's first.
	ManagerMetricsURLs []string

	opts      Options
	processes []*process
	// mu guards the processes' cmd and done, which Restart replaces, for
	// callers that kill and restart from several goroutines.
	mu sync.Mutex
}

type process struct {
	name, bin string
	args, env []string
	cmd       *exec.Cmd
	log       string
	// done is closed when the process has exited.
	done chan struct{}
}

// Binaries returns the manager and token-server binaries "make build"
// leaves in bin/ under the module root, failing with what to run when
// either is missing.
func Binaries(root, target string) (manager, tokenServer string, err error) {
	bin := filepath.Join(root, "bin")
	for _, b := range []string{"manager", "token-server"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return "", "", fmt.Errorf("bin/%s is missing: run 'make %s' (or 'make build') first", b, target)
		}
	}
	return filepath.Join(bin, "manager"), filepath.Join(bin, "token-server"), nil
}

// StartBuilt starts Signet for a test suite or benchmark run by "make
// target": the binaries make build left in the module's bin/, and its
// files in a new temporary directory (Dir), which the caller removes or
// keeps for its logs. opts' other fields are used as given.
func StartBuilt(ctx context.Context, target string, opts Options) (*Environment, error) {
	root, err := testenv.ModuleRoot()
	if err != nil {
		return nil, err
	}
	if opts.ManagerBin, opts.TokenServerBin, err = Binaries(root, target); err != nil {
		return nil, err
	}
	if opts.Dir, err = os.MkdirTemp("", "signet-"+target+"-"); err != nil {
		return nil, err
	}
	return Start(ctx, opts)
}

// Dir is the directory holding the kubeconfig and the processes' logs.
func (e *Environment) Dir() string { return e.opts.Dir }

// Start brings everything up and returns once the token server is ready.
// On error, whatever started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Environment, err error) {
	if opts.Namespace == "" {
		opts.Namespace = "signet-system"
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	listen, err := resolveListen(opts.Listen)
	if err != nil {
		return nil, err
	}
	te, err := testenv.Start()
	if err != nil {
		return nil, err
	}
	e := &Environment{Environment: te, Issuer: "http://" + listen, Namespace: opts.Namespace, opts: opts}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	if opts.ManagerMetrics != "" {
		if e.opts.ManagerMetrics, err = resolveListen(opts.ManagerMetrics); err != nil {
			return nil, err
		}
		e.ManagerMetricsURL = "http://" + e.opts.ManagerMetrics + "/metrics"
	}
	if e.Client, err = client.New(te.Config, client.Options{Scheme: testenv.Scheme()}); err != nil {
		return nil, err
	}
	e.Kubeconfig = filepath.Join(opts.Dir, "kubeconfig")
	if err := os.WriteFile(e.Kubeconfig, te.KubeConfig, 0o600); err != nil {
		return nil, err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: opts.Namespace}}
	if err := e.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, err
	}
	if err := e.installGuard(ctx); err != nil {
		return nil, err
	}
	if err := e.installTokenServerIdentity(ctx); err != nil {
		return nil, err
	}
	if !opts.ControllerManagerLater || ControllerManagerBuilt() {
		if err := e.StartControllerManager(); err != nil {
			return nil, err
		}
	}
	if err := e.startManagers(max(opts.Managers, 1)); err != nil {
		return nil, err
	}
	if err := e.startTokenServers(listen, max(opts.TokenServers, 1)); err != nil {
		return nil, err
	}
	for _, base := range e.Replicas {
		if err := e.waitReady(ctx, base+"/readyz", 60*time.Second); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// ControllerManagerBuilt reports whether the local control plane has its
// kube-controller-manager.
func ControllerManagerBuilt() bool {
	dir, err := testenv.AssetsDir()
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(dir, "kube-controller-manager"))
	return err == nil
}

// StartControllerManager starts kube-controller-manager, for namespace
// deletion and garbage collection, if it does not run yet.
func (e *Environment) StartControllerManager() error {
	cm, err := e.Environment.StartControllerManager(e.opts.Dir)
	if err != nil {
		return err
	}
	e.ControllerManager = cm
	return nil
}

// startTokenServers starts n replicas, the first on listen.
func (e *Environment) startTokenServers(listen string, n int) error {
	for i := range n {
		if i > 0 {
			var err error
			if listen, err = resolveListen("127.0.0.1:0"); err != nil {
				return err
			}
		}
		if err := e.StartTokenServer(listen); err != nil {
			return err
		}
	}
	return nil
}

// StartManager starts the manager binary.
func (e *Environment) StartManager() error {
	metrics := e.opts.ManagerMetrics
	if metrics == "" {
		metrics = "0"
	}
	return e.spawn("manager", e.opts.ManagerBin, e.managerArgs(metrics)...)
}

func (e *Environment) managerArgs(metrics string, extra ...string) []string {
	args := []string{
		"--signet-namespace=" + e.Namespace,
		"--issuer=" + e.Issuer,
		"--metrics-bind-address=" + metrics,
		"--health-probe-bind-address=127.0.0.1:0",
		"--kube-api-qps=200", "--kube-api-burst=400",
		"--token-server-service-account=" + TokenServerAccount,
		"--token-server-token-file=" + e.tokenFile(),
	}
	return append(append(args, e.opts.ManagerArgs...), extra...)
}

// startManagers starts n manager replicas: one as StartManager does, or n
// that elect a leader, named "manager", "manager-2" and so on in Logs, each
// with its metrics on a loopback port of its own.
func (e *Environment) startManagers(n int) error {
	if n == 1 {
		return e.StartManager()
	}
	for i := range n {
		metrics, err := resolveListen("127.0.0.1:0")
		if err != nil {
			return err
		}
		name := "manager"
		if i > 0 {
			name += "-" + strconv.Itoa(i+1)
		}
		e.ManagerMetricsURLs = append(e.ManagerMetricsURLs, "http://"+metrics+"/metrics")
		if err := e.spawn(name, e.opts.ManagerBin, e.managerArgs(metrics, "--leader-elect")...); err != nil {
			return err
		}
	}
	return nil
}

// StartTokenServer starts a token-server replica listening on listen, with
// the shared issuer, and adds it to Replicas. The first is named
// "token-server" in Logs, the next "token-server-2" and so on. As in the
// chart's sidecar layout, it authenticates as its own ServiceAccount with
// the token the manager writes (TokenRequest API), and it is given no
// kubeconfig: it never holds the administrator's credentials.
func (e *Environment) StartTokenServer(listen string) error {
	return e.StartTokenServerVia(listen, e.Config.Host, e.caFile())
}

// StartTokenServerVia starts a token-server replica as StartTokenServer
// does, reaching the API server at apiHost (https://host:port) and trusting
// the CA in caFile: a proxy in front of the API server, for fault tests.
func (e *Environment) StartTokenServerVia(listen, apiHost, caFile string) error {
	env, args, err := e.tokenServerCommand(listen, apiHost, e.tokenFile(), caFile)
	if err != nil {
		return err
	}
	name := "token-server"
	if n := len(e.Replicas); n > 0 {
		name += "-" + strconv.Itoa(n+1)
	}
	e.Replicas = append(e.Replicas, "http://"+listen)
	return e.spawnEnv(name, e.opts.TokenServerBin, env, args...)
}

// TokenServerCommand returns the environment and the flags of a token-server
// replica listening on listen that reads its ServiceAccount token and the
// API server's CA from tokenFile and caFile, as the chart's pods read them
// from their projected volume. A replica run elsewhere (in a container)
// passes the paths it mounts TokenServerCredentials at.
func (e *Environment) TokenServerCommand(listen, tokenFile, caFile string) (env, args []string, err error) {
	return e.tokenServerCommand(listen, e.Config.Host, tokenFile, caFile)
}

func (e *Environment) tokenServerCommand(listen, apiHost, tokenFile, caFile string) (env, args []string, err error) {
	u, err := url.Parse(apiHost)
	if err != nil {
		return nil, nil, err
	}
	env = []string{"KUBERNETES_SERVICE_HOST=" + u.Hostname(), "KUBERNETES_SERVICE_PORT=" + u.Port()}
	args = []string{
		"--namespace=" + e.Namespace,
		"--issuer=" + e.Issuer,
		"--listen=" + listen,
		"--kube-token-file=" + tokenFile,
		"--kube-ca-file=" + caFile,
		// Replicas share a host here, so the host name cannot tell their
		// reports apart as it does for Pods.
		"--replica-name=" + ReplicaName(listen),
	}
	return env, append(args, e.opts.TokenServerArgs...), nil
}

// ReplicaName is the report name of the replica listening on listen:
// "replica-" and its port.
func ReplicaName(listen string) string {
	_, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" {
		return "replica"
	}
	return "replica-" + port
}

// TokenServerCredentials returns the files the token servers authenticate
// with: the token the manager requests for TokenServerAccount, and the API
// server's CA.
func (e *Environment) TokenServerCredentials() (tokenFile, caFile string) {
	return e.tokenFile(), e.caFile()
}

// CAFile is the path of the API server's CA certificate.
func (e *Environment) CAFile() string { return e.caFile() }

// TokenServerAccount is the token server's ServiceAccount in the Signet
// namespace, named as config/default names it.
const TokenServerAccount = "signet-token-server"

func (e *Environment) tokenFile() string { return filepath.Join(e.opts.Dir, "token-server.token") }
func (e *Environment) caFile() string    { return filepath.Join(e.opts.Dir, "kube-ca.crt") }

// installTokenServerIdentity creates the token server's ServiceAccount and
// binds it to the Role of config/rbac/token_server_role.yaml, and writes the
// API server's CA for it. The token file is left to the manager.
func (e *Environment) installTokenServerIdentity(ctx context.Context) error {
	if err := os.WriteFile(e.caFile(), e.Config.CAData, 0o600); err != nil {
		return err
	}
	_ = os.Remove(e.tokenFile()) // a stale token from an earlier run
	data, err := os.ReadFile(filepath.Join(e.Root, "config", "rbac", "token_server_role.yaml"))
	if err != nil {
		return err
	}
	role := &rbacv1.Role{}
	if err := yaml.Unmarshal(data, role); err != nil {
		return fmt.Errorf("config/rbac/token_server_role.yaml: %w", err)
	}
	role.Name, role.Namespace = "signet-"+role.Name, e.Namespace
	subject := rbacv1.Subject{Kind: "ServiceAccount", Name: TokenServerAccount, Namespace: e.Namespace}
	// Its one cluster-wide right, TokenReview, checks the ServiceAccount
	// tokens of Federated clients.
	review, err := e.tokenReviewRole()
	if err != nil {
		return err
	}
	objs := []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: TokenServerAccount, Namespace: e.Namespace}},
		role,
		&rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: e.Namespace},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
			Subjects:   []rbacv1.Subject{subject},
		},
		review,
		&rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: review.Name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: review.Name},
			Subjects:   []rbacv1.Subject{subject},
		},
	}
	for _, obj := range objs {
		if err := e.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("installing the token server's identity: %w", err)
		}
	}
	return nil
}

// tokenReviewRole is the ClusterRole of
// config/rbac/token_server_tokenreview_role.yaml (its first document),
// named for this environment's namespace: several environments may share
// one API server.
func (e *Environment) tokenReviewRole() (*rbacv1.ClusterRole, error) {
	const path = "config/rbac/token_server_tokenreview_role.yaml"
	data, err := os.ReadFile(filepath.Join(e.Root, path))
	if err != nil {
		return nil, err
	}
	first, _, _ := strings.Cut(string(data), "\n---")
	cr := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal([]byte(first), cr); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cr.Kind != "ClusterRole" {
		return nil, fmt.Errorf("%s: the first document is a %s, want a ClusterRole", path, cr.Kind)
	}
	cr.Name = "signet-" + e.Namespace + "-" + cr.Name
	return cr, nil
}

func (e *Environment) spawn(name, bin string, args ...string) error {
	return e.spawnEnv(name, bin, []string{"KUBECONFIG=" + e.Kubeconfig}, args...)
}

func (e *Environment) spawnEnv(name, bin string, env []string, args ...string) error {
	p := &process{name: name, bin: bin, args: args, env: env}
	if err := e.exec(p); err != nil {
		return err
	}
	e.processes = append(e.processes, p)
	return nil
}

// exec runs p, appending to its log: a restarted process keeps one log.
func (e *Environment) exec(p *process) error {
	name, bin, env, args := p.name, p.bin, p.env, p.args
	logPath := filepath.Join(e.opts.Dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(withoutKubeconfig(os.Environ()), env...)
	var out io.Writer = logFile
	if e.opts.Output != nil {
		out = io.MultiWriter(logFile, prefixed(e.opts.Output, name))
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that a Ctrl-C in the terminal reaches only
	// this program, which then stops the children in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("starting %s: %w", name, err)
	}
	done := make(chan struct{})
	p.cmd, p.log, p.done = cmd, logPath, done
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(done) }()
	return nil
}

func (e *Environment) process(name string) (*process, error) {
	for _, p := range e.processes {
		if p.name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no process named %q", name)
}

// Kill kills the named child ("manager", "token-server-2", ...) with
// SIGKILL, as a node failure or the OOM killer would, and returns once it
// has exited.
func (e *Environment) Kill(name string) error {
	e.mu.Lock()
	p, err := e.process(name)
	if err != nil {
		e.mu.Unlock()
		return err
	}
	cmd, done := p.cmd, p.done
	e.mu.Unlock()
	_ = cmd.Process.Kill()
	<-done
	return nil
}

// Restart starts a child that has exited again, with the same flags and
// log file.
func (e *Environment) Restart(name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, err := e.process(name)
	if err != nil {
		return err
	}
	select {
	case <-p.done:
	default:
		return fmt.Errorf("%s is still running", name)
	}
	return e.exec(p)
}

// Running reports whether the named child runs.
func (e *Environment) Running(name string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, err := e.process(name)
	if err != nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// PID returns the process id of the named child.
func (e *Environment) PID(name string) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, err := e.process(name)
	if err != nil {
		return 0, err
	}
	return p.cmd.Process.Pid, nil
}

// Logs returns the log file paths of the processes, by name.
func (e *Environment) Logs() map[string]string {
	out := map[string]string{}
	if e.ControllerManager != nil {
		out["kube-controller-manager"] = e.ControllerManager.Log
	}
	for _, p := range e.processes {
		out[p.name] = p.log
	}
	return out
}

// Exited returns a channel that receives the name of the first child that
// exits on its own.
func (e *Environment) Exited() <-chan string {
	ch := make(chan string, len(e.processes)+1)
	for _, p := range e.processes {
		go func(p *process) {
			<-p.done
			ch <- p.name
		}(p)
	}
	if cm := e.ControllerManager; cm != nil {
		go func() {
			<-cm.Exited()
			ch <- "kube-controller-manager"
		}()
	}
	return ch
}

// stop stops a child with SIGTERM, and SIGKILL after 20 s.
func stop(p *process) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Stop stops the children (token server first, so it never serves without
// a manager behind it for long), then the control plane.
func (e *Environment) Stop() {
	for i := len(e.processes) - 1; i >= 0; i-- {
		stop(e.processes[i])
	}
	e.processes = nil
	if e.Environment != nil {
		_ = e.Environment.Stop()
	}
}

func (e *Environment) waitReady(ctx context.Context, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("token server %s not ready after %v (last: %s); see %v", url, timeout, last, e.Logs())
}

// FreeLoopback returns a free address on 127.0.0.1, for a process to listen
// on.
func FreeLoopback() (string, error) { return resolveListen("127.0.0.1:0") }

// resolveListen turns "host:0" into a free port, so the issuer URL can be
// known before the token server starts.
func resolveListen(listen string) (string, error) {
	if listen == "" {
		listen = "127.0.0.1:8080"
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if port != "0" {
		return listen, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return net.JoinHostPort(host, strconv.Itoa(l.Addr().(*net.TCPAddr).Port)), nil
}

type prefixWriter struct {
	w      io.Writer
	prefix []byte
}

func prefixed(w io.Writer, name string) io.Writer {
	return &prefixWriter{w: w, prefix: []byte("[" + name + "] ")}
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	if _, err := p.w.Write(append(append([]byte{}, p.prefix...), b...)); err != nil {
		return 0, err
	}
	return len(b), nil
}

// installGuard installs what config/default adds next to the binaries: the
// escalation guard (config/policy) and the tenant ClusterRoles, named as
// kustomize's "signet-" prefix names them, so that "make dev" enforces who
// may grant which scope as a cluster does.
func (e *Environment) installGuard(ctx context.Context) error {
	for _, file := range []string{"policy/accessrule_grant.yaml", "rbac/tenant_roles.yaml"} {
		data, err := os.ReadFile(filepath.Join(e.Root, "config", file))
		if err != nil {
			return err
		}
		for _, doc := range strings.Split(string(data), "\n---") {
			obj := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			obj.SetName("signet-" + obj.GetName())
			if obj.GetKind() == "ValidatingAdmissionPolicyBinding" {
				if err := unstructured.SetNestedField(obj.Object, obj.GetName(), "spec", "policyName"); err != nil {
					return err
				}
			}
			if err := e.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("installing %s %s: %w", obj.GetKind(), obj.GetName(), err)
			}
		}
	}
	return nil
}

// withoutKubeconfig drops KUBECONFIG from an environment, so that a child
// uses only the credentials it is given.
func withoutKubeconfig(environ []string) []string {
	out := environ[:0:0]
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "KUBECONFIG=") {
			out = append(out, kv)
		}
	}
	return out
}
