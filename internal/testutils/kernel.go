package testutils

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/fetch"
	"github.com/vmtest/vmtest/host/kbuild"
)

// CacheDir is the cache the test kernels are read from: $VMTEST_E2E_CACHE,
// or the user's vmtest cache. (It is run.DefaultCacheDir, which this
// package cannot import: host/run's tests import this package.)
func CacheDir() string {
	if d := os.Getenv(EnvCache); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "vmtest")
	}
	return filepath.Join(os.TempDir(), "vmtest-cache")
}

// The cache's layout, as host/fetch and host/kbuild write it.
var seeded = []string{"kernels", "src", "build"}

// SeedCache makes dir a cache of its own that holds the read-only cache's
// kernels, source trees and builds as symbolic links, entry by entry: a
// vmtest run with --cache dir finds every kernel the read-only cache has
// without writing to it, and whatever it adds (an initramfs, a KVM
// verdict, a build the read-only cache lacks) lands in dir.
func SeedCache(dir string) error {
	ro := CacheDir()
	for _, sub := range seeded {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("seed cache: %w", err)
		}
		ents, err := os.ReadDir(filepath.Join(ro, sub))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("seed cache: %w", err)
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			name := e.Name()
			// Build trees are scratch space for builds: a build in dir must
			// not build in the read-only cache's. They are linked as seeds
			// instead, which kbuild only copies objects from.
			if sub == "build" && !kbuildEntry(name) {
				if !strings.HasPrefix(name, "tree-") {
					continue
				}
				name = kbuild.SeedLinkPrefix + strings.TrimPrefix(name, "tree-")
			}
			if err := os.Symlink(filepath.Join(ro, sub, e.Name()), filepath.Join(dir, sub, name)); err != nil {
				return fmt.Errorf("seed cache: %w", err)
			}
		}
	}
	return nil
}

// kbuildEntry reports whether a name in the build cache is a finished
// kernel (kernel-KEY) rather than a scratch tree.
func kbuildEntry(name string) bool {
	return strings.HasPrefix(name, "kernel-")
}

// RequireKernel returns a kernel of the read-only cache for vmtest's
// --kernel, or skips tb (fails it under VMTEST_E2E_REQUIRE=1) when the
// cache lacks it, saying how to fill it. name is "debian" (the result is
// the path of Debian's cached kernel) or a build spec, build[:...] (the
// result is the spec itself, once its build is known to be cached, so that
// a vmtest run on a SeedCache cache takes it from there instead of
// spending ten minutes building it).
func RequireKernel(tb testing.TB, name string) string {
	tb.Helper()
	k, err := cachedKernel(tb.Context(), CacheDir(), name)
	if err != nil {
		SkipOrFail(tb, "%v (`make test-kernels` builds and fetches the test kernels; %s names another cache)", err, EnvCache)
	}
	return k
}

func cachedKernel(ctx context.Context, cache, name string) (string, error) {
	if name == "debian" {
		m, _ := filepath.Glob(filepath.Join(cache, "kernels", "linux-image-*", "boot", "vmlinuz-*"))
		if len(m) == 0 {
			return "", fmt.Errorf("no Debian kernel in %s", cache)
		}
		slices.Sort(m)
		return m[len(m)-1], nil
	}
	sp, cfgs, err := kbuild.ParseSpec(name)
	if err != nil {
		return "", err
	}
	if sp.Tree == "" {
		if sp.Tree, err = debianTree(cache); err != nil {
			return "", err
		}
	}
	if sp, err = kbuild.WithFragments(sp, cfgs); err != nil {
		return "", err
	}
	key, err := kbuild.Key(ctx, sp)
	if err != nil {
		return "", fmt.Errorf("the cache key of %s: %w", name, err)
	}
	if _, err := os.Stat(filepath.Join(cache, "build", "kernel-"+key, "manifest.json")); err != nil {
		return "", fmt.Errorf("kernel %s is not built in %s (no build/kernel-%s)", name, cache, key)
	}
	return name, nil
}

// RequireDebianSource returns Debian's kernel source tree in the read-only
// cache (the default tree of a build spec), or skips tb (fails it under
// VMTEST_E2E_REQUIRE=1) when the cache lacks it. The tree is only to be
// read.
func RequireDebianSource(tb testing.TB) string {
	tb.Helper()
	t, err := debianTree(CacheDir())
	if err != nil {
		SkipOrFail(tb, "%v (`make test-kernels` fetches it; %s names another cache)", err, EnvCache)
	}
	return t
}

// debianTree is the Debian source tree host/fetch unpacked into the cache,
// the default tree of a build spec.
func debianTree(cache string) (string, error) {
	m, _ := filepath.Glob(filepath.Join(cache, "src", fetch.DebianSourcePkg+"_*", fetch.DebianSourcePkg, fetch.SourceStamp))
	if len(m) == 0 {
		return "", fmt.Errorf("no Debian kernel source in %s", cache)
	}
	slices.Sort(m)
	return filepath.Dir(m[len(m)-1]), nil
}
