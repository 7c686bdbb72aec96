package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/compare"
	"github.com/vmtest/vmtest/host/run"
)

func TestCompareStatus(t *testing.T) {
	ok := &run.Result{Status: run.Completed}
	crashed := &run.Result{Status: run.Crashed, StatusDetail: "Kernel panic", Crash: "[ 1.0] Kernel panic - not syncing"}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name        string
		ctx         context.Context
		base, patch *run.Result
		regressions []string
		flaky       []string
		unconfirmed string
		code        int
		stderr      []string // each must appear
	}{
		{"nothing changed", context.Background(), ok, ok, nil, nil, "", exitOK, nil},
		{"a regression", context.Background(), ok, ok, []string{"a", "b"}, nil, "", exitFailed, []string{"2 regressed: a, b"}},
		{"flaky only", context.Background(), ok, ok, nil, []string{"c"}, "", exitOK, []string{"1 flaky (not regressions): c"}},
		{"flaky and a regression", context.Background(), ok, ok, []string{"a"}, []string{"c"}, "", exitFailed, []string{"flaky (not regressions): c", "1 regressed: a"}},
		// A run that failed as a whole outranks regressions: its cases
		// cannot be trusted.
		{"patched crashed", context.Background(), ok, crashed, []string{"a"}, nil, "", exitInfra, []string{"patched run: crashed: Kernel panic", "--- patched console excerpt ---"}},
		{"base crashed", context.Background(), crashed, ok, nil, nil, "", exitInfra, []string{"base run: crashed"}},
		{"confirmation failed", context.Background(), ok, ok, []string{"a"}, nil, "confirm-1 patched run: qemu-failed: boom", exitInfra, []string{"vmtest compare: confirm-1 patched run: qemu-failed: boom"}},
		{"interrupted", cancelled, ok, crashed, []string{"a"}, nil, "", exitInterrupted, []string{"interrupted; the comparison holds the cases that ran"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep := &compare.Report{Unconfirmed: tc.unconfirmed, Comparison: &compare.Comparison{
				Base: compare.SideResult{Result: tc.base}, Patched: compare.SideResult{Result: tc.patch},
				Regressions: tc.regressions, Flaky: tc.flaky,
			}}
			var stderr bytes.Buffer
			if code := compareStatus(tc.ctx, rep, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d\n%s", code, tc.code, stderr.String())
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			if tc.stderr == nil && stderr.Len() > 0 {
				t.Errorf("stderr %q, want nothing", stderr.String())
			}
		})
	}
}

// flagNames lists the flags a command's -h prints.
func flagNames(t *testing.T, cmd string) []string {
	t.Helper()
	code, _, stderr := vmtest(t, cmd, "-h")
	if code != exitOK {
		t.Fatalf("vmtest %s -h: exit %d", cmd, code)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^  -(\S+)`).FindAllStringSubmatch(stderr, -1) {
		names = append(names, m[1])
	}
	return names
}

// TestCompareTakesRunFlags: every flag of `vmtest run` is one of `vmtest
// compare` but --repeat, whose counterpart there is --confirm, and --shard,
// a slice of one run (compare accepts merged results as either side).
func TestCompareTakesRunFlags(t *testing.T) {
	runFlags, cmpFlags := flagNames(t, "run"), flagNames(t, "compare")
	if len(runFlags) < 15 {
		t.Fatalf("vmtest run -h lists %d flags: %v", len(runFlags), runFlags)
	}
	var missing []string
	for _, f := range runFlags {
		if !slices.Contains(cmpFlags, f) {
			missing = append(missing, f)
		}
	}
	if strings.Join(missing, " ") != "repeat shard" {
		t.Errorf("run flags compare lacks: %v, want only repeat and shard", missing)
	}
}

// TestCompareForwardsRunFlags: the run flags reach both kernels' runs, so
// that a bad value is refused by compare as by run.
func TestCompareForwardsRunFlags(t *testing.T) {
	img := t.TempDir() + "/bzImage"
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--debug", "crash"}, `--debug "crash"`},
		{[]string{"--runner", "fork"}, `--runner "fork": want proxy or exec`},
		{[]string{"--exec", img}, "--exec"},
		{[]string{"--qemu", "/nonexistent/qemu"}, "/nonexistent/qemu"},
		{[]string{"--boot-timeout", "0"}, `--boot-timeout "0": must be positive`},
	} {
		args := append([]string{"compare", "--cache", t.TempDir(), "--base", "debian", "--kernel", "debian", "--out", t.TempDir() + "/cmp"}, tc.flags...)
		code, _, stderr := vmtest(t, args...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("compare %v: exit %d, want 2 with %q:\n%s", tc.flags, code, tc.want, stderr)
		}
	}
}
