package kbuild

import (
	"os"
	"strings"

	"github.com/vmtest/vmtest/configs"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// FragmentInput resolves a config fragment's name: an existing file, else a
// built-in fragment of configs/.
func FragmentInput(name string) (Input, error) {
	if fi, err := os.Stat(name); err == nil && fi.Mode().IsRegular() {
		return Input{Path: name}, nil
	}
	data, err := configs.Get(name)
	if err != nil {
		return Input{}, inputerr.Errorf("config", name, "no such file, and no built-in fragment of that name (built in: %s)", strings.Join(configs.Names(), ", "))
	}
	return Input{Path: "configs/" + strings.TrimSuffix(name, ".config") + ".config (built in)", Data: data}, nil
}

// WithFragments returns sp with the named fragments (files or built-in
// names; the minimal fragment when none is named) resolved into
// sp.Fragments, and everything checked that can be without the tree (see
// CheckInputs).
func WithFragments(sp Spec, names []string) (Spec, error) {
	if len(names) == 0 {
		names = []string{configs.Default}
	}
	for _, n := range names {
		in, err := FragmentInput(n)
		if err != nil {
			return sp, err
		}
		sp.Fragments = append(sp.Fragments, in)
	}
	return sp, CheckInputs(sp)
}
