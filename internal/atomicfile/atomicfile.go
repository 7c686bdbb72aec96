// Package atomicfile writes files whole: into a temporary file beside the
// target, then renamed over it. A reader (another vmtest sharing the cache,
// or the next run after a crash) sees the old file or the new one, never a
// half-written one, and an interrupted write leaves no partial target.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write creates or replaces path with what write produces, with permission
// perm exactly (os.CreateTemp makes files 0600, and reading the umask to
// apply it would mean setting it process-wide). The directory must exist.
// On any error path is untouched and the temporary file is gone.
func Write(path string, perm os.FileMode, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	werr := write(tmp)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteFile is Write of a byte slice, like os.WriteFile.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
