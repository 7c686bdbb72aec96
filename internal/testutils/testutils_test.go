package testutils_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/bzimage"
	"github.com/vmtest/vmtest/host/initramfs"
	"github.com/vmtest/vmtest/internal/testutils"
)

func TestBzImagePassesCheck(t *testing.T) {
	p, err := testutils.WriteBzImage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	info, err := bzimage.Check(p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != testutils.BzImageVersion || info.Integrity != "build CRC32" {
		t.Errorf("version %q, integrity %q", info.Version, info.Integrity)
	}
}

func TestStaticAgentPassesCheck(t *testing.T) {
	p, err := testutils.WriteStaticAgent(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := initramfs.CheckStatic(p); err != nil {
		t.Errorf("CheckStatic: %v", err)
	}
	dyn := filepath.Join(t.TempDir(), "dyn")
	if err := os.WriteFile(dyn, testutils.ELF(testutils.EMX8664, true), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := initramfs.CheckStatic(dyn); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("CheckStatic of an ELF with PT_INTERP: %v", err)
	}
}

// recorder is a testing.TB that records how a helper ended it.
type recorder struct {
	testing.TB
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = strings.TrimSpace(sprint(args)) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = format }

func sprint(args []any) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(a.(string))
	}
	return b.String()
}

func TestSkipOrFail(t *testing.T) {
	for _, tc := range []struct {
		require      string
		skip, failed bool
	}{
		{"", true, false},
		{"0", true, false},
		{"1", false, true},
	} {
		t.Setenv(testutils.EnvRequire, tc.require)
		r := &recorder{TB: t}
		testutils.SkipOrFail(r, "no %s", "kernel")
		if (r.skipped != "") != tc.skip || (r.failed != "") != tc.failed {
			t.Errorf("%s=%q: skipped %q failed %q; want skip %v fail %v", testutils.EnvRequire, tc.require, r.skipped, r.failed, tc.skip, tc.failed)
		}
		if tc.skip && r.skipped != "no kernel" {
			t.Errorf("skip reason %q, want %q", r.skipped, "no kernel")
		}
	}
}

func TestSkipWithoutQEMU(t *testing.T) {
	t.Setenv(testutils.EnvRequire, "")
	t.Setenv(testutils.EnvQEMU, filepath.Join(t.TempDir(), "no-qemu"))
	r := &recorder{TB: t}
	if q := testutils.SkipWithoutQEMU(r); q != "" || !strings.Contains(r.skipped, "no-qemu") {
		t.Errorf("missing QEMU: returned %q, skip %q", q, r.skipped)
	}
	t.Setenv(testutils.EnvQEMU, "sh") // any executable: only its presence is checked
	r = &recorder{TB: t}
	if q := testutils.SkipWithoutQEMU(r); !filepath.IsAbs(q) || r.skipped != "" {
		t.Errorf("present QEMU: returned %q, skip %q", q, r.skipped)
	}
}

// fakeCache lays out a read-only cache as host/fetch and host/kbuild do.
func fakeCache(t *testing.T) string {
	ro := t.TempDir()
	for _, d := range []string{
		"kernels/linux-image-6.1.0-1-amd64/boot",
		"kernels/linux-image-6.1.0-9-amd64/boot",
		"src/linux-source-6.1_6.1.1-1/linux-source-6.1",
		"build/kernel-0123456789abcdef",
		"build/tree-fedcba9876543210",
	} {
		if err := os.MkdirAll(filepath.Join(ro, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{
		"kernels/linux-image-6.1.0-1-amd64/boot/vmlinuz-6.1.0-1-amd64",
		"kernels/linux-image-6.1.0-9-amd64/boot/vmlinuz-6.1.0-9-amd64",
		"build/tree-fedcba9876543210.lock",
	} {
		if err := os.WriteFile(filepath.Join(ro, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(testutils.EnvCache, ro)
	return ro
}

func TestSeedCache(t *testing.T) {
	ro := fakeCache(t)
	dir := t.TempDir()
	if err := testutils.SeedCache(dir); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rel    string
		linked bool
	}{
		{"kernels/linux-image-6.1.0-1-amd64", true},
		{"kernels/linux-image-6.1.0-9-amd64", true},
		{"src/linux-source-6.1_6.1.1-1", true},
		{"build/kernel-0123456789abcdef", true},
		// A build's scratch tree and lock stay the read-only cache's own.
		{"build/tree-fedcba9876543210", false},
		{"build/tree-fedcba9876543210.lock", false},
	} {
		target, err := os.Readlink(filepath.Join(dir, tc.rel))
		switch {
		case tc.linked && target != filepath.Join(ro, tc.rel):
			t.Errorf("%s: link to %q (%v), want %s", tc.rel, target, err, filepath.Join(ro, tc.rel))
		case !tc.linked && err == nil:
			t.Errorf("%s: linked to %s, want no entry", tc.rel, target)
		}
	}
	// What a run adds goes to dir, not to the read-only cache.
	if err := os.WriteFile(filepath.Join(dir, "build", "kernel-new"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(ro, "build", "kernel-new")); err == nil {
		t.Error("a write to the seeded cache reached the read-only one")
	}
}

func TestRequireKernel(t *testing.T) {
	ro := fakeCache(t)
	t.Setenv(testutils.EnvRequire, "")
	r := &recorder{TB: t}
	if k := testutils.RequireKernel(r, "debian"); k != filepath.Join(ro, "kernels/linux-image-6.1.0-9-amd64/boot/vmlinuz-6.1.0-9-amd64") || r.skipped != "" {
		t.Errorf("debian: %q (skip %q), want the newest cached kernel", k, r.skipped)
	}
	// The fake source tree is no kernel tree: its key cannot be computed,
	// and the test skips saying so, naming the way to fill the cache.
	r = &recorder{TB: t}
	testutils.RequireKernel(r, "build")
	if !strings.Contains(r.skipped, "make test-kernels") {
		t.Errorf("build on a cache without it: skip %q, want it to name make test-kernels", r.skipped)
	}
	t.Setenv(testutils.EnvCache, t.TempDir())
	for _, name := range []string{"debian", "build", "build:patch=x.patch"} {
		r = &recorder{TB: t}
		testutils.RequireKernel(r, name)
		if r.skipped == "" {
			t.Errorf("%s on an empty cache: not skipped", name)
		}
	}
}
