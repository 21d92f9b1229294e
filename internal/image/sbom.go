package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"fmt"
	"io"
	"sort"

	cdx "github.com/CycloneDX/cyclonedx-go"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// SBOM lists what the image holds, as a CycloneDX document: each Go
// binary with the module versions and Go toolchain recorded in it (what a
// vulnerability database is matched against), and every other file with
// its SHA-256. It reads the image's own layers, not the inputs of Build.
func SBOM(img v1.Image, ref string) (*cdx.BOM, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, err
	}
	var components []cdx.Component
	err = walk(img, func(h *tar.Header, data []byte) error {
		c, err := component(h, data)
		if err == nil {
			components = append(components, c)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{Component: &cdx.Component{
		BOMRef:  ref,
		Type:    cdx.ComponentTypeContainer,
		Name:    ref,
		Version: digest.String(),
	}}
	bom.Components = &components
	return bom, nil
}

// component describes one regular file of the image.
func component(h *tar.Header, data []byte) (cdx.Component, error) {
	sum := sha256.Sum256(data)
	c := cdx.Component{
		BOMRef: "file:/" + h.Name,
		Type:   cdx.ComponentTypeFile,
		Name:   "/" + h.Name,
		Hashes: &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: hex.EncodeToString(sum[:])}},
	}
	if h.Mode&0o111 == 0 {
		return c, nil
	}
	info, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		return c, fmt.Errorf("%s is executable but not a Go binary with build information: %w", c.Name, err)
	}
	c.Type, c.Version = cdx.ComponentTypeApplication, info.Main.Version
	c.PackageURL = purl(info.Main.Path, info.Main.Version)
	// The toolchain is listed as syft and govulncheck name it: the standard
	// library is a module of its own for vulnerability matching.
	libs := []cdx.Component{{Type: cdx.ComponentTypeLibrary, Name: "stdlib", Version: info.GoVersion, PackageURL: purl("stdlib", info.GoVersion)}}
	for _, m := range info.Deps {
		if m.Replace != nil {
			m = m.Replace
		}
		libs = append(libs, cdx.Component{
			Type:       cdx.ComponentTypeLibrary,
			Name:       m.Path,
			Version:    m.Version,
			PackageURL: purl(m.Path, m.Version),
			// go.sum's h1: hash, which CycloneDX has no algorithm for.
			Properties: &[]cdx.Property{{Name: "go:module:sum", Value: m.Sum}},
		})
	}
	var props []cdx.Property
	for _, s := range info.Settings {
		props = append(props, cdx.Property{Name: "go:build:" + s.Key, Value: s.Value})
	}
	c.Components, c.Properties = &libs, &props
	return c, nil
}

func purl(path, version string) string { return "pkg:golang/" + path + "@" + version }

// walk calls fn with each regular file of the image's flattened file
// system, in name order.
func walk(img v1.Image, fn func(*tar.Header, []byte) error) error {
	type entry struct {
		h    *tar.Header
		data []byte
	}
	var files []entry
	err := entries(img, func(h *tar.Header, r io.Reader) error {
		if h.Typeflag != tar.TypeReg {
			return nil
		}
		data, err := io.ReadAll(r)
		files = append(files, entry{h, data})
		return err
	})
	if err != nil {
		return err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].h.Name < files[j].h.Name })
	for _, f := range files {
		if err := fn(f.h, f.data); err != nil {
			return err
		}
	}
	return nil
}

// entries calls fn with each entry of the image's flattened file system,
// the layers applied in order as a runtime applies them.
func entries(img v1.Image, fn func(*tar.Header, io.Reader) error) error {
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(h, tr); err != nil {
			return err
		}
	}
}
