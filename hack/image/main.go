// Command image builds Signet's container image from the static binaries
// that "make build" writes, with no container engine and no base image to
// pull (see internal/image), and writes it under bin/image: an OCI layout,
// the same as an OCI archive, and a CycloneDX SBOM. "make image" runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/signet-iam/signet/internal/image"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run() error {
	manager := flag.String("manager", "bin/manager", "the static manager binary")
	tokenServer := flag.String("token-server", "bin/token-server", "the static token-server binary")
	caCerts := flag.String("ca-certs", "/etc/ssl/certs/ca-certificates.crt", "the PEM bundle of CA certificates to install (Debian's ca-certificates package)")
	version := flag.String("version", "", "the image tag, the chart's appVersion")
	out := flag.String("out", "bin/image", "the output directory")
	flag.Parse()
	if *version == "" {
		return fmt.Errorf("-version is required")
	}
	certs, err := os.ReadFile(*caCerts)
	if err != nil {
		return fmt.Errorf("%w (install Debian's ca-certificates or pass -ca-certs)", err)
	}
	created, err := sourceDate()
	if err != nil {
		return err
	}
	img, err := image.Build(image.Options{
		Manager:     *manager,
		TokenServer: *tokenServer,
		CACerts:     certs,
		// The binaries are built for the machine building the image.
		Platform: v1.Platform{OS: "linux", Architecture: runtime.GOARCH},
		Created:  created,
		Version:  *version,
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	ref := image.Repository + ":" + *version
	paths, err := image.Write(*out, "signet", ref, img)
	if err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	size, err := image.SizeOf(img)
	if err != nil {
		return err
	}
	fmt.Printf("%s@%s (linux/%s): %s\n  OCI layout  %s\n  OCI archive %s\n  SBOM        %s\n",
		ref, digest, runtime.GOARCH, size, paths.Layout, paths.Archive, paths.SBOM)
	return nil
}

// sourceDate is SOURCE_DATE_EPOCH, the reproducible-builds convention, or
// the Unix epoch, so that the same binaries give the same image digest.
func sourceDate() (time.Time, error) {
	s := os.Getenv("SOURCE_DATE_EPOCH")
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}
