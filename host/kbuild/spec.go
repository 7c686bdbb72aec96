package kbuild

import (
	"fmt"
	"strings"
)

// SpecPrefix starts a build spec on the command line, where a kernel may
// also be a bzImage path or a result directory.
const SpecPrefix = "build"

// IsSpec reports whether s is a build spec ("build" or "build:...").
func IsSpec(s string) bool { return s == SpecPrefix || strings.HasPrefix(s, SpecPrefix+":") }

// ParseSpec parses "build[:key=value,...]" with the keys tree, base,
// config (repeatable) and patch (repeatable). Missing keys are left empty
// for the caller's defaults; the config values are returned apart because
// each may name a built-in fragment or a file (Debian's source tree, tinyconfig, the
// built-in minimal fragment).
func ParseSpec(s string) (Spec, []string, error) {
	var sp Spec
	var configs []string
	if !IsSpec(s) {
		return sp, nil, fmt.Errorf("%q is not a build spec (want build[:tree=DIR,config=FRAG,patch=FILE,...])", s)
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(s, SpecPrefix), ":")
	if rest == "" {
		return sp, nil, nil
	}
	for _, kv := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || v == "" {
			return sp, nil, fmt.Errorf("build spec %q: %q is not key=value (keys: tree, base, config, patch)", s, kv)
		}
		switch k {
		case "tree":
			sp.Tree = v
		case "base":
			sp.Base = v
		case "config":
			configs = append(configs, v)
		case "patch":
			sp.Patches = append(sp.Patches, v)
		default:
			return sp, nil, fmt.Errorf("build spec %q: unknown key %q (keys: tree, base, config, patch)", s, k)
		}
	}
	return sp, configs, nil
}
