package image

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Unpack writes the image's flattened file system under dir, with the
// modes and, when run as root, the owners the layers record: the root file
// system a container runtime would give the container.
func Unpack(img v1.Image, dir string) error {
	return entries(img, func(h *tar.Header, r io.Reader) error {
		name := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(name, filepath.Clean(dir)+string(os.PathSeparator)) {
			return fmt.Errorf("layer entry %q leaves the root file system", h.Name)
		}
		return unpackEntry(r, h, name)
	})
}

func unpackEntry(r io.Reader, h *tar.Header, name string) error {
	switch h.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(name, 0o755); err != nil {
			return err
		}
	case tar.TypeReg:
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(name, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, r)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("layer entry %q: type %c is not expected in Signet's image", h.Name, h.Typeflag)
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(name, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	// After chown, which clears the set-id bits; the sticky bit of /tmp
	// is what matters here.
	return os.Chmod(name, fileMode(h.Mode))
}

// fileMode converts a tar mode (permission bits, set-id and sticky in the
// Unix positions) to an os.FileMode.
func fileMode(m int64) os.FileMode {
	mode := os.FileMode(m).Perm()
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	return mode
}
