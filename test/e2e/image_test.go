//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-iam/signet/internal/devenv"
	"github.com/signet-iam/signet/internal/image"
)

// The token server's credentials, where the container sees them.
const (
	credentialsDir = "/var/run/signet"
	tokenInImage   = credentialsDir + "/token"
	caInImage      = credentialsDir + "/ca.crt"
)

// TestImageServesTokens runs the token server from the image "make image"
// built, as one more replica beside the ones the suite started, and gets a
// token from it with a workload Secret. It runs the image with podman when
// podman works here (SIGNET_IMAGE_RUNTIME=podman|unpacked chooses); else it
// unpacks the image and runs the binary chrooted into it, as the image's
// user, in its working directory, which still proves what the image holds:
// a static binary that starts on the base with no libc, reads the CA
// bundle, and needs nothing root owns.
func TestImageServesTokens(t *testing.T) {
	paths := image.Paths(filepath.Join(root, "bin", "image"), "signet")
	if _, err := os.Stat(paths.Layout); err != nil {
		t.Skipf("no image in %s: run 'make image' ('make test' does)", paths.Layout)
	}
	img, err := image.Load(paths.Layout)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	fresh(t, img)

	ns := scenario(t, "itential-product-client.yaml")
	creds := workloadSecret(t, ns, "automation-gateway-oauth", "client_secret")

	listen, err := devenv.FreeLoopback()
	if err != nil {
		t.Fatal(err)
	}
	env, args, err := signet.TokenServerCommand(listen, tokenInImage, caInImage)
	if err != nil {
		t.Fatal(err)
	}
	runtime := os.Getenv("SIGNET_IMAGE_RUNTIME")
	var logs fmt.Stringer
	if runtime == "" || runtime == "podman" {
		dir := podmanDir(t)
		ref, reason := podmanLoad(dir, paths.Archive)
		switch {
		case reason == "":
			runtime, logs = "podman", runPodman(t, dir, ref, env, args)
		case runtime == "podman":
			t.Fatalf("SIGNET_IMAGE_RUNTIME=podman: %s", reason)
		default:
			t.Logf("podman cannot run the image here: %s; running it unpacked instead", reason)
		}
	}
	if logs == nil {
		if runtime != "" && runtime != "unpacked" {
			t.Fatalf("SIGNET_IMAGE_RUNTIME=%q: want podman or unpacked", runtime)
		}
		runtime, logs = "unpacked", runUnpacked(t, img, cfg.Config, env, args)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- the image's token server ---\n%s", logs)
		}
	})

	base := "http://" + listen
	waitFor(t, 60*time.Second, "the image's token server Ready", func() error { return ready(base) })
	var tok string
	waitFor(t, 10*time.Second, "a token from the image's token server", func() error {
		resp, err := tokenAt(base, creds)
		if err == nil {
			tok = resp.AccessToken
		}
		return err
	})
	if claims := verify(t, tok); claims["client_id"] != creds["client_id"] {
		t.Errorf("token for %v, want %s", claims["client_id"], creds["client_id"])
	}
	t.Logf("%s: token from the image's token server, run %s as %s in %s", runtime, image.TokenServerPath, cfg.Config.User, cfg.Config.WorkingDir)
}

// fresh fails when the image does not hold bin/token-server, the binary
// this tree builds: a stale image proves nothing.
func fresh(t *testing.T, img v1.Image) {
	t.Helper()
	want, err := os.ReadFile(filepath.Join(root, "bin", "token-server"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := image.Unpack(img, dir); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, image.TokenServerPath))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("bin/image holds another token server than bin/token-server: run 'make image'")
	}
}

// credentials copies the token server's credentials into dir, owned by
// the image's user, as a projected volume gives them to the pod.
func credentials(t *testing.T, dir string, uid, gid int) {
	t.Helper()
	token, ca := signet.TokenServerCredentials()
	waitFor(t, 30*time.Second, "the token server's token", func() error { _, err := os.Stat(token); return err })
	for src, dst := range map[string]string{token: filepath.Base(tokenInImage), ca: filepath.Base(caInImage)} {
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, dst)
		if err := os.WriteFile(path, data, 0o400); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(path, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
}

// podmanDir is a directory for podman's storage, removed once the test and
// its containers are done. Not t.TempDir: podman run --rm may still be
// removing the container's files when the test ends, which t.TempDir's
// cleanup reports as a failure. Registered first, it runs last.
func podmanDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "signet-image-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = podman(dir, "rm", "--force", "--all").Run()
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := os.RemoveAll(dir)
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Logf("left %s behind: %v", dir, err)
				return
			}
			time.Sleep(200 * time.Millisecond) // the pace of the retry, not a wait for a condition
		}
	})
	return dir
}

// podmanLoad loads the OCI archive into podman storage under dir, and runs
// the token server's -h in a container of it. It returns the image's name,
// or why podman cannot run containers here.
func podmanLoad(dir, archive string) (ref, reason string) {
	if os.Geteuid() != 0 {
		return "", "not root: the test runs podman as root, with the host's network"
	}
	for _, bin := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return "", bin + " is not installed (Debian: apt-get install podman runc)"
		}
	}
	out, err := podman(dir, "load", "--quiet", "--input", archive).CombinedOutput()
	if err != nil {
		return "", fmt.Sprintf("podman load: %v: %s", err, bytes.TrimSpace(out))
	}
	ref = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "Loaded image:"))
	probe := append(append([]string{}, podmanRun...), "--entrypoint", image.TokenServerPath, ref, "-h")
	out, err = podman(dir, probe...).CombinedOutput()
	if err != nil {
		return "", fmt.Sprintf("podman run: %v: %s", err, bytes.TrimSpace(out))
	}
	return ref, ""
}

// podman runs podman with its own storage under dir, so that the test
// leaves nothing in the machine's image store. It uses runc, which Debian
// installs with podman: Debian's default, crun, refuses the hybrid cgroup
// layout of some machines ("cgroups in hybrid mode not supported").
func podman(dir string, args ...string) *exec.Cmd {
	return exec.Command("podman", append([]string{
		"--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run"),
		"--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none",
		"--runtime", "runc",
	}, args...)...)
}

// podmanRun are the flags of every "podman run" here. Podman raises the
// container's open-file and process limits by default, which a machine
// without CAP_SYS_RESOURCE refuses ("setrlimit RLIMIT_NOFILE: Operation
// not permitted"); limits below the usual hard limits need no privilege,
// and are plenty for one token server.
var podmanRun = []string{"run", "--rm", "--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"}

// runPodman runs the token server from the loaded image the
// way the chart's container does: its command, the image's user, a
// read-only root file system, the credentials mounted read-only. The host
// network stands in for the Service, so it reaches the local API server.
func runPodman(t *testing.T, dir, ref string, env, args []string) fmt.Stringer {
	t.Helper()
	creds := filepath.Join(dir, "credentials")
	if err := os.Mkdir(creds, 0o755); err != nil {
		t.Fatal(err)
	}
	credentials(t, creds, image.UID, image.GID)
	run := append(append([]string{}, podmanRun...), "--name", "signet-token-server-e2e", "--read-only",
		"--security-opt", "no-new-privileges", "--cap-drop", "ALL",
		"--volume", creds+":"+credentialsDir+":ro", "--entrypoint", image.TokenServerPath)
	for _, kv := range env {
		run = append(run, "--env", kv)
	}
	cmd := podman(dir, append(append(run, ref), args...)...)
	return start(t, cmd, func() {
		_ = podman(dir, "stop", "--time", "10", "signet-token-server-e2e").Run()
	})
}

// runUnpacked unpacks the image and runs the token server chrooted into
// it, as the image's user, in its working directory, with its environment.
func runUnpacked(t *testing.T, img v1.Image, cfg v1.Config, env, args []string) fmt.Stringer {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running the unpacked image needs root (chroot, and files owned by the image's user); no container runtime either")
	}
	uid, gid, err := parseUser(cfg.User)
	if err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	if err := os.Chmod(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := image.Unpack(img, rootfs); err != nil {
		t.Fatal(err)
	}
	creds := filepath.Join(rootfs, credentialsDir)
	if err := os.MkdirAll(creds, 0o755); err != nil {
		t.Fatal(err)
	}
	credentials(t, creds, uid, gid)
	cmd := exec.Command(image.TokenServerPath, args...)
	cmd.Dir = cfg.WorkingDir
	cmd.Env = append(append([]string{}, cfg.Env...), env...)
	// Go chroots, then takes the user, then changes to Dir: the order
	// a runtime starts a container's process in.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Chroot:     rootfs,
		Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}},
		Pdeathsig:  syscall.SIGTERM,
	}
	return start(t, cmd, nil)
}

// start starts cmd with its output in the returned buffer, and stops it
// when the test ends: with stop when given, then SIGTERM.
func start(t *testing.T, cmd *exec.Cmd, stop func()) fmt.Stringer {
	t.Helper()
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %v: %v", cmd.Args, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		if stop != nil {
			stop()
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return logs
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// parseUser reads an image's numeric USER, "uid:gid".
func parseUser(user string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(user, ":")
	if !ok {
		return 0, 0, fmt.Errorf("image user %q: want uid:gid", user)
	}
	if uid, err = strconv.Atoi(u); err == nil {
		gid, err = strconv.Atoi(g)
	}
	return uid, gid, err
}

func ready(base string) error {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, base+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%d %s", resp.StatusCode, body)
	}
	return nil
}
