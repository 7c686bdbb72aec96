package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMutateBadInput: every bad input of vmtest mutate is refused with
// exit 2 and one line naming it, before anything is fetched or built.
func TestMutateBadInput(t *testing.T) {
	dir := t.TempDir()
	noDiff := filepath.Join(dir, "nodiff.patch")
	os.WriteFile(noDiff, []byte("notes only\n"), 0o644)
	badExplain := filepath.Join(dir, "explain.json")
	os.WriteFile(badExplain, []byte(`{"explanations": [{"id": "x"}]}`), 0o644)
	target := "--target=kernel/pid.c:alloc_pid"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"nothing to mutate", nil, "nothing to mutate: give --target"},
		{"a bzImage is no spec", []string{"--kernel", "debian", target}, "--kernel debian: is not a build spec"},
		{"bad spec", []string{"--kernel", "build:colour=red", target}, `unknown key "colour"`},
		{"bad target", []string{"--target", "kernel/pid.c:alloc-pid"}, `is neither a function name`},
		{"bad statement target", []string{"--target", "kernel/pid.c:alloc_pid@/* */"}, `is no C code`},
		{"patch without diff", []string{"--patch", noDiff}, "--patch " + noDiff + ": message 1 contains no diff"},
		{"bad min score", []string{target, "--min-score", "95"}, `--min-score "95": want a number from 0 to 1`},
		{"bad shard", []string{target, "--shard", "3/2"}, `--shard "3/2": want K/N`},
		{"bad explanations", []string{target, "--explain", badExplain}, "explanation 1 (x) lacks"},
		{"src without list", []string{target, "--src", dir}, "--src is for --list only"},
		{"unknown case", []string{target, "--case", "no/such"}, `--case "no/such" matches no case`},
		{"reexplain a non-report", []string{"--reexplain", dir}, "--reexplain: open " + filepath.Join(dir, "mutate.json")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			args := append([]string{"mutate", "--cache", cache, "--out", filepath.Join(dir, "out")}, tc.args...)
			code, stdout, stderr := vmtest(t, args...)
			if code != exitUsage {
				t.Fatalf("vmtest %q: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !strings.Contains(stderr, tc.want) {
				t.Errorf("stderr, want one line with %q:\n%s", tc.want, stderr)
			}
			if ents, _ := os.ReadDir(cache); len(ents) > 0 {
				t.Errorf("bad input left %s in the cache", ents[0].Name())
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
				t.Error("bad input left an output directory")
			}
		})
	}
}
