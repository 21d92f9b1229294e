// Package image builds Signet's container image without a container
// engine: a base layer made here (CA certificates, a passwd entry for the
// nonroot user, its home and /tmp) and a layer with the two static
// binaries, /manager and /token-server, as an OCI image with
// go-containerregistry. The Dockerfile and the Helm chart describe the same
// image; test/chart checks that they agree with the constants below.
package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What the image is, as the chart and the Dockerfile expect it.
const (
	// Repository is the chart's default image repository.
	Repository = "ghcr.io/signet-iam/signet"
	// UID and GID are those of the "nonroot" user, as on distroless: the
	// chart's securityContext runs the containers as 65532:65532.
	UID, GID = 65532, 65532
	// User is the image's USER.
	User = "65532:65532"
	// Home is the nonroot user's home, the image's working directory.
	Home = "/home/nonroot"
	// ManagerPath and TokenServerPath are the binaries the chart's
	// containers run; ManagerPath is the entrypoint.
	ManagerPath     = "/manager"
	TokenServerPath = "/token-server"
	// CACertsPath is where Go's crypto/x509 looks first on Linux, and
	// SSL_CERT_FILE names it.
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
)

// Options say what goes into the image.
type Options struct {
	// Manager and TokenServer are the paths of the static binaries.
	Manager, TokenServer string
	// CACerts is the PEM bundle installed at CACertsPath.
	CACerts []byte
	// Platform is the binaries' OS and architecture.
	Platform v1.Platform
	// Created stamps the config and every file, so that the same inputs
	// give the same digest (SOURCE_DATE_EPOCH; the zero time by default).
	Created time.Time
	// Version is the org.opencontainers.image.version label.
	Version string
}

// Labels are the image's OCI annotations, as in the Dockerfile.
func Labels(version string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "signet",
		"org.opencontainers.image.description": "Machine identities and OAuth2 tokens for Kubernetes: the Signet manager and token server",
		"org.opencontainers.image.source":      "https://github.com/signet-iam/signet",
		"org.opencontainers.image.licenses":    "Apache-2.0",
		"org.opencontainers.image.version":     version,
	}
}

// Build returns the image: the base layer, then the binaries' layer.
func Build(o Options) (v1.Image, error) {
	if len(o.CACerts) == 0 {
		return nil, fmt.Errorf("no CA certificates: the token server and the manager verify TLS peers with them")
	}
	base, err := layer(baseFiles(o.CACerts), o.Created)
	if err != nil {
		return nil, fmt.Errorf("base layer: %w", err)
	}
	var bins []file
	for dst, src := range map[string]string{ManagerPath: o.Manager, TokenServerPath: o.TokenServer} {
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("binary for %s: %w", dst, err)
		}
		bins = append(bins, file{name: dst, mode: 0o755, data: data})
	}
	app, err := layer(bins, o.Created)
	if err != nil {
		return nil, fmt.Errorf("binaries layer: %w", err)
	}

	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.AppendLayers(img, base, app); err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = o.Platform.OS, o.Platform.Architecture, o.Platform.Variant
	cf.Created = v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		User:       User,
		WorkingDir: Home,
		Entrypoint: []string{ManagerPath},
		Env: []string{
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"SSL_CERT_FILE=" + CACertsPath,
		},
		Labels: Labels(o.Version),
	}
	return mutate.ConfigFile(img, cf)
}

// file is one entry of a layer: a directory when dir is set.
type file struct {
	name     string
	mode     int64
	uid, gid int
	dir      bool
	data     []byte
}

// baseFiles is what a minimal static image needs: who the users are (so
// that tools and the Go runtime can name 65532), CA certificates, a home
// for the nonroot user and a world-writable /tmp.
func baseFiles(caCerts []byte) []file {
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" +
		fmt.Sprintf("nonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", UID, GID, Home)
	group := "root:x:0:\n" + fmt.Sprintf("nonroot:x:%d:\n", GID)
	return []file{
		{name: "/etc", mode: 0o755, dir: true},
		{name: "/etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "/etc/group", mode: 0o644, data: []byte(group)},
		{name: "/etc/ssl", mode: 0o755, dir: true},
		{name: "/etc/ssl/certs", mode: 0o755, dir: true},
		{name: CACertsPath, mode: 0o644, data: caCerts},
		{name: "/home", mode: 0o755, dir: true},
		{name: Home, mode: 0o700, uid: UID, gid: GID, dir: true},
		{name: "/root", mode: 0o700, dir: true},
		{name: "/tmp", mode: 0o1777, dir: true},
	}
}

// layer writes files into a gzipped OCI layer, sorted and stamped with
// one time, so that the layer's digest depends on the content only.
func layer(files []file, stamp time.Time) (v1.Layer, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{
			Name:    path.Clean(f.name)[1:],
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.gid,
			ModTime: stamp,
			Format:  tar.FormatPAX,
		}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressionLevel(gzip.DefaultCompression))
}
