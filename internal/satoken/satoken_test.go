package satoken_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	. "github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/signet-iam/signet/internal/satoken"
	"github.com/signet-iam/signet/internal/testenv"
	"github.com/signet-iam/signet/internal/testutil"
)

var (
	env   *testenv.Environment
	admin kubernetes.Interface
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Run(m, func(e *testenv.Environment) (err error) {
		env = e
		admin, err = kubernetes.NewForConfig(e.Config)
		return err
	}))
}

// TestWriterKeepsTheTokenServersTokenFresh runs the writer as the manager's
// ServiceAccount holding only the Role the chart gives it (create
// serviceaccounts/token for the token server's account by name), against the
// real API server: the file holds a token that authenticates as the token
// server's account, only the owner may read it, it is replaced before it
// expires, and no log line holds it.
func TestWriterKeepsTheTokenServersTokenFresh(t *testing.T) {
	g := NewWithT(t)
	ns := setup(t)
	path := filepath.Join(t.TempDir(), "token")
	logs := &syncBuffer{}
	clk := clocktesting.NewFakeClock(time.Now())
	w := &satoken.Writer{
		Client: asManager(t, ns).CoreV1(), Namespace: ns, ServiceAccount: "token-server",
		Path: path, Lifetime: time.Hour, Log: funcr.New(logs.log, funcr.Options{}), Clock: clk,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	t.Cleanup(func() { cancel(); g.Expect(<-done).To(Succeed()) })

	first := waitForToken(g, path, "")
	g.Expect(whoAmI(t, first)).To(Equal(testutil.ServiceAccountUser(ns, "token-server")))
	fi, err := os.Stat(path)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(fi.Mode().Perm()).To(Equal(os.FileMode(0o600)), "the token file must be readable by its owner only")

	// The writer sleeps until half the token's lifetime has passed; past
	// that point it must have replaced the token, well before it expires.
	g.Eventually(clk.HasWaiters).Should(BeTrue())
	clk.Step(31 * time.Minute)
	second := waitForToken(g, path, first)
	g.Expect(whoAmI(t, second)).To(Equal(testutil.ServiceAccountUser(ns, "token-server")))

	g.Expect(logs.String()).To(ContainSubstring("Wrote the token server's ServiceAccount token"))
	for _, token := range []string{first, second} {
		g.Expect(logs.String()).NotTo(ContainSubstring(token), "a log line holds the token")
	}
}

// TestWriterCannotActAsAnotherAccount: the manager's Role names the token
// server's account, so a token of any other account is refused, the writer
// keeps retrying without stopping, and writes no file.
func TestWriterCannotActAsAnotherAccount(t *testing.T) {
	g := NewWithT(t)
	ns := setup(t)
	_, err := admin.CoreV1().ServiceAccounts(ns).Create(t.Context(), &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	path := filepath.Join(t.TempDir(), "token")
	w := &satoken.Writer{Client: asManager(t, ns).CoreV1(), Namespace: ns, ServiceAccount: "other", Path: path, Lifetime: time.Hour}
	_, err = w.Refresh(t.Context())
	g.Expect(apierrors.IsForbidden(err)).To(BeTrue(), "the manager may request a token of another account: %v", err)
	_, err = os.Stat(path)
	g.Expect(os.IsNotExist(err)).To(BeTrue(), "a refused request left a file behind")
}

// setup creates a namespace with the token server's and the manager's
// accounts, and the manager's Role from config/rbac/token_requester_role.yaml
// with the token server's account as its one resourceName.
func setup(t *testing.T) string {
	t.Helper()
	g := NewWithT(t)
	ctx := t.Context()
	nsObj, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "satoken-"}}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	ns := nsObj.Name
	t.Cleanup(func() { _ = admin.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	for _, name := range []string{"manager", "token-server"} {
		_, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
	}
	objs := testutil.ReadObjects(t, filepath.Join(env.Root, "config", "rbac", "token_requester_role.yaml"))
	g.Expect(objs).To(HaveLen(2))
	role := &rbacv1.Role{}
	g.Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, role)).To(Succeed())
	g.Expect(role.Rules).To(HaveLen(1))
	role.Namespace = ns
	role.Rules[0].ResourceNames = []string{"token-server"}
	_, err = admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "manager", Namespace: ns}},
	}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	return ns
}

// asManager acts as the namespace's "manager" ServiceAccount.
func asManager(t *testing.T, ns string) kubernetes.Interface {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: testutil.ServiceAccountUser(ns, "manager"), Groups: []string{"system:serviceaccounts", "system:authenticated"}}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// waitForToken waits until the file holds a token other than old.
func waitForToken(g Gomega, path, old string) string {
	var token string
	g.Eventually(func(g Gomega) {
		data, err := os.ReadFile(path)
		g.Expect(err).NotTo(HaveOccurred())
		token = string(data)
		g.Expect(token).NotTo(BeEmpty())
		g.Expect(token).NotTo(Equal(old))
	}).WithTimeout(20 * time.Second).Should(Succeed())
	return token
}

// whoAmI asks the API server who the token authenticates as.
func whoAmI(t *testing.T, token string) string {
	t.Helper()
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = token
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cs.AuthenticationV1().SelfSubjectReviews().Create(t.Context(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("the written token does not authenticate: %v", err)
	}
	return r.Status.UserInfo.Username
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) log(prefix, args string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.WriteString(strings.TrimSpace(prefix + " " + args + "\n"))
	b.buf.WriteByte('\n')
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
