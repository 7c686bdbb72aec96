//go:build linux

// Command gencatalog writes internal/catalog/cases.go: the matrix's cases
// without their bodies, so that the host can list, select and report cases
// without importing guest code. Run it through go generate in
// internal/catalog; guest/matrix's TestCatalogIsCurrent fails when the
// committed file is stale.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/catalog"
)

func main() {
	out := flag.String("o", "cases.go", "file to write")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gencatalog:", err)
		os.Exit(1)
	}
}

// write replaces out whole: a temporary file beside it, renamed into place.
func write(out string) error {
	src, err := catalog.Render(matrix.Infos())
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".cases-*.go")
	if err != nil {
		return fmt.Errorf("writing the catalog: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(src); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("writing the catalog: %w", err)
	}
	return os.Rename(tmp.Name(), out)
}
