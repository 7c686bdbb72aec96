// Package configs holds the kernel config fragments `vmtest build` merges
// onto a base config, embedded so the binary builds kernels from any
// directory.
package configs

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
)

//go:embed *.config
var files embed.FS

// Default is the fragment used when none is named: what the harness and
// the matrix need, and little else.
const Default = "minimal"

// Get returns the embedded fragment called name ("minimal" or
// "minimal.config").
func Get(name string) ([]byte, error) {
	name = strings.TrimSuffix(name, ".config") + ".config"
	data, err := files.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("no built-in config fragment %q (have: %s)", name, strings.Join(Names(), ", "))
	}
	return data, nil
}

// Names lists the embedded fragments without their .config suffix.
func Names() []string {
	ents, _ := fs.ReadDir(files, ".")
	var n []string
	for _, e := range ents {
		n = append(n, strings.TrimSuffix(e.Name(), ".config"))
	}
	sort.Strings(n)
	return n
}
