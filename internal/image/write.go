package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Output names the files Write produces for an image called name in dir.
type Output struct {
	// Layout is an OCI image layout directory (skopeo's and podman's
	// "oci:" transport, crane, ko).
	Layout string
	// Archive is the same layout as one tar file: an "oci-archive" that
	// "podman load -i" and "skopeo copy oci-archive:" read.
	Archive string
	// SBOM is the CycloneDX JSON document of SBOM.
	SBOM string
}

// Paths returns where Write puts the image named name in dir.
func Paths(dir, name string) Output {
	return Output{
		Layout:  filepath.Join(dir, name),
		Archive: filepath.Join(dir, name+".tar"),
		SBOM:    filepath.Join(dir, name+".cdx.json"),
	}
}

// Write replaces the layout, the archive and the SBOM of img in dir, with
// ref (repository:tag) as the image's name.
func Write(dir, name, ref string, img v1.Image) (Output, error) {
	out := Paths(dir, name)
	if err := os.RemoveAll(out.Layout); err != nil {
		return out, err
	}
	p, err := layout.Write(out.Layout, empty.Index)
	if err != nil {
		return out, err
	}
	// The first name is the OCI one, the second the one containerd's
	// "ctr image import" reads.
	err = p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref,
		"io.containerd.image.name":          ref,
	}))
	if err != nil {
		return out, fmt.Errorf("writing the OCI layout: %w", err)
	}
	if err := archive(out.Layout, out.Archive); err != nil {
		return out, fmt.Errorf("writing the OCI archive: %w", err)
	}
	bom, err := SBOM(img, ref)
	if err != nil {
		return out, fmt.Errorf("listing the image's contents: %w", err)
	}
	return out, writeBOM(out.SBOM, bom)
}

// archive tars the layout directory, blobs and all.
func archive(dir, dst string) (err error) {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		return err
	}
	return tw.Close()
}

func writeBOM(dst string, bom *cdx.BOM) (err error) {
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	return cdx.NewBOMEncoder(f, cdx.BOMFileFormatJSON).SetPretty(true).Encode(bom)
}

// Load returns the image of the layout Write wrote.
func Load(layoutDir string) (v1.Image, error) {
	idx, err := layout.ImageIndexFromPath(layoutDir)
	if err != nil {
		return nil, err
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(m.Manifests) != 1 {
		return nil, fmt.Errorf("%s holds %d images, want 1", layoutDir, len(m.Manifests))
	}
	return idx.Image(m.Manifests[0].Digest)
}

// Size is an image's size: compressed, as a registry stores and a node
// pulls it, and uncompressed, as it lies on the node's disk.
type Size struct {
	Compressed, Uncompressed int64
}

// SizeOf adds up the layers and the config of img.
func SizeOf(img v1.Image) (Size, error) {
	var s Size
	layers, err := img.Layers()
	if err != nil {
		return s, err
	}
	for _, l := range layers {
		c, err := l.Size()
		if err != nil {
			return s, err
		}
		s.Compressed += c
		rc, err := l.Uncompressed()
		if err != nil {
			return s, err
		}
		n, err := countBytes(rc)
		if err != nil {
			return s, err
		}
		s.Uncompressed += n
	}
	raw, err := img.RawConfigFile()
	s.Compressed += int64(len(raw))
	return s, err
}

// String gives the size for people, in MB (10^6 bytes).
func (s Size) String() string {
	return fmt.Sprintf("%.1f MB compressed, %.1f MB uncompressed", float64(s.Compressed)/1e6, float64(s.Uncompressed)/1e6)
}

func countBytes(rc io.ReadCloser) (int64, error) {
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}
