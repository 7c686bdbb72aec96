package main

// Benchmarks for the speed targets of issues 2, 3 and 4. Each reports
// its measurement as a metric and fails when the target is missed, so
// `make bench` is the check; no unit test asserts a duration.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/guest/agent"
	"github.com/vmtest/vmtest/host/fetch"
	"github.com/vmtest/vmtest/host/run"
)

// target fails b when the mean time per operation exceeds limit.
func target(b *testing.B, elapsed time.Duration, limit time.Duration, what string) {
	per := elapsed / time.Duration(b.N)
	b.ReportMetric(per.Seconds(), "s/op-wall")
	if per > limit {
		b.Errorf("%s took %s per run; the target is %s", what, per.Round(time.Millisecond), limit)
	}
}

// BenchmarkRefuseBadInput: a truncated bzImage is refused (exit 2) in
// under a second: nothing may start before the input is checked.
func BenchmarkRefuseBadInput(b *testing.B) {
	real, err := os.ReadFile(debianKernel(b))
	if err != nil {
		b.Fatal(err)
	}
	bad := filepath.Join(b.TempDir(), "truncated")
	if err := os.WriteFile(bad, real[:len(real)/3], 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if code, _, stderr := vmtest(b, "run", "--kernel", bad, "--out", filepath.Join(b.TempDir(), "r")); code != 2 {
			b.Fatalf("exit %d, want 2: %s", code, stderr)
		}
	}
	target(b, time.Since(start), time.Second, "refusing a truncated bzImage")
}

// BenchmarkRunDebianKernel: the README's first command after the one-time
// download, the whole matrix on Debian's 6.1 kernel: under 15 s of wall
// time (TCG on machines without a usable KVM).
func BenchmarkRunDebianKernel(b *testing.B) {
	k := debianKernel(b)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if code, _, stderr := vmtest(b, "run", "--kernel", k, "--out", filepath.Join(b.TempDir(), "r")); code != 0 {
			b.Fatalf("exit %d: %s", code, stderr)
		}
	}
	target(b, time.Since(start), 15*time.Second, "vmtest run on Debian's kernel")
}

// BenchmarkBuildCacheHit: building the same inputs again is a cache hit
// in under a second.
func BenchmarkBuildCacheHit(b *testing.B) {
	if code, _, stderr := vmtest(b, "build"); code != 0 { // fill the cache
		b.Fatalf("vmtest build: exit %d: %s", code, stderr)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		code, _, stderr := vmtest(b, "build")
		if code != 0 || !strings.Contains(stderr, "cached") {
			b.Fatalf("second build not a cache hit (exit %d): %s", code, stderr)
		}
	}
	target(b, time.Since(start), time.Second, "a cached vmtest build")
}

// buildKselftests compiles the upstream clone3 kselftests of Debian's
// linux-source-6.1 as static binaries (the initramfs has no libc): the
// three about clone3 and set_tid (clone3_clear_sighand is about signal
// handlers).
func buildKselftests(b *testing.B) []string {
	tree, err := fetch.DebianSource(b.Context(), run.DefaultCacheDir(), func(string) {})
	if err != nil {
		b.Fatal(err)
	}
	dir := filepath.Join(tree, "tools", "testing", "selftests", "clone3")
	out := b.TempDir()
	var bins []string
	for _, t := range []string{"clone3", "clone3_set_tid", "clone3_cap_checkpoint_restore"} {
		bin := filepath.Join(out, t)
		cmd := exec.Command("gcc", "-static", "-O2", "-std=gnu99", "-I..", "-o", bin, t+".c", "-lcap")
		cmd.Dir = dir
		if o, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("build kselftest %s (needs gcc and libcap-dev): %v\n%s", t, err, o)
		}
		bins = append(bins, bin)
	}
	return bins
}

// BenchmarkMatrixVsKselftests: issue 3's target. The matrix must finish
// in less guest time than the upstream clone3 kselftests together, on
// the same kernel in the same VM shape. Both are measured inside the
// guest: the matrix from its first case to its last, the kselftests as
// the sum of their run times.
func BenchmarkMatrixVsKselftests(b *testing.B) {
	k := debianKernel(b)
	bins := buildKselftests(b)
	var matrixMS, kselftestMS float64
	for i := 0; i < b.N; i++ {
		out := filepath.Join(b.TempDir(), "ks")
		args := []string{"run", "--kernel", k, "--out", out}
		for _, bin := range bins {
			args = append(args, "--exec", bin)
		}
		if code, _, stderr := vmtest(b, args...); code != 0 {
			b.Fatalf("kselftests run: exit %d: %s", code, stderr)
		}
		r, err := run.Load(out)
		if err != nil {
			b.Fatal(err)
		}
		ms, err := strconv.ParseFloat(r.Guest[agent.InfoExecPrefix+"total_ms"], 64)
		if err != nil {
			b.Fatalf("kselftest guest time missing: %v", r.Guest)
		}
		kselftestMS += ms
		out = filepath.Join(b.TempDir(), "matrix")
		if code, _, stderr := vmtest(b, "run", "--kernel", k, "--out", out); code != 0 {
			b.Fatalf("matrix run: exit %d: %s", code, stderr)
		}
		if r, err = run.Load(out); err != nil {
			b.Fatal(err)
		}
		if ms, err = strconv.ParseFloat(r.Guest[agent.InfoCasesWallMS], 64); err != nil {
			b.Fatalf("matrix guest time missing: %v", r.Guest)
		}
		matrixMS += ms
	}
	b.ReportMetric(matrixMS/float64(b.N), "matrix-guest-ms")
	b.ReportMetric(kselftestMS/float64(b.N), "kselftests-guest-ms")
	if matrixMS >= kselftestMS {
		b.Errorf("the matrix took %.0f ms of guest time, the upstream kselftests %.0f ms: the target is less", matrixMS/float64(b.N), kselftestMS/float64(b.N))
	}
}
