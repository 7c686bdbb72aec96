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

	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/atomicfile"
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

// write replaces out whole (atomicfile), so a failed run leaves the old one.
func write(out string) error {
	src, err := catalog.Render(matrix.Infos())
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(out, src, 0o644)
}
