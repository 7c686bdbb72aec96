package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/mutate"
	"github.com/vmtest/vmtest/internal/catalog"
)

// writeMutationShards writes the mutate.json of n shards of a mutation
// run of alloc_pid's set_tid block in which every third mutant survives.
func writeMutationShards(t *testing.T, n int) []string {
	t.Helper()
	src, err := os.ReadFile("../../host/mutate/testdata/alloc_pid.c")
	if err != nil {
		t.Fatal(err)
	}
	target := mutate.Target{File: "alloc_pid.c", First: 33, Last: 48}
	ms, err := mutate.Generate(target, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for k := 1; k <= n; k++ {
		var rs []mutate.Result
		for i, m := range ms {
			if slices.Contains(mutate.Shard(ms, catalog.Shard{K: k, N: n}), m) {
				r := mutate.Result{Mutant: m, Outcome: mutate.Killed, Killers: []string{"set_tid/pid/pid-max"}, ObjectSHA: fmt.Sprint(i)}
				if i%3 == 0 {
					r.Outcome, r.Killers = mutate.Survived, nil
				}
				rs = append(rs, r)
			}
		}
		rep := mutate.NewReport([]string{target.String()}, "", rs)
		rep.Kernel, rep.Shard, rep.Generated = "build", &catalog.Shard{K: k, N: n}, len(ms)
		dir := t.TempDir()
		if err := rep.Write(dir); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

// TestMergeMutations: vmtest merge takes mutation shards, prints the
// merged score and exits 1 below --min-score, with the merge written.
func TestMergeMutations(t *testing.T) {
	shards := writeMutationShards(t, 2)
	runDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(runDir, "result.json"), []byte(`{"run_id":"r","status":"completed","cases":[]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"merge", nil, exitOK, "killed", "merged 2 mutation shards"},
		{"above the minimum", []string{"--min-score", "0.5"}, exitOK, "score 0.6", ""},
		{"below the minimum", []string{"--min-score", "0.9"}, exitFailed, "score 0.6", "is below --min-score 0.9"},
		{"bad minimum", []string{"--min-score", "2"}, exitUsage, "", "--min-score 2: want a number from 0 to 1"},
		{"one shard", []string{shards[0]}, exitUsage, "", "lack shard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "merged")
			args := append([]string{"merge", "--out", out}, tc.args...)
			if !strings.HasPrefix(tc.name, "one") {
				args = append(args, shards...)
			}
			code, stdout, stderr := vmtest(t, args...)
			if code != tc.code || !strings.Contains(stdout, tc.stdout) || !strings.Contains(stderr, tc.stderr) {
				t.Fatalf("exit %d, want %d with %q / %q\nstdout:\n%s\nstderr:\n%s", code, tc.code, tc.stdout, tc.stderr, stdout, stderr)
			}
			_, err := os.Stat(filepath.Join(out, "report.html"))
			if written := tc.code != exitUsage; written != (err == nil) {
				t.Errorf("report.html written: %v, want %v", err == nil, written)
			}
		})
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"mixed kinds", []string{shards[0], runDir}, "is not a mutation result"},
		{"kcidb origin of mutations", append([]string{"--kcidb-origin", "ci"}, shards...), "--kcidb-origin ci: mutation results have no kcidb.json"},
		{"min-score of a run", []string{"--min-score", "0.5", runDir}, "--min-score 0.5: is for mutation results"},
	} {
		code, _, stderr := vmtest(t, append([]string{"merge", "--out", filepath.Join(t.TempDir(), "m")}, tc.args...)...)
		if code != exitUsage || !strings.Contains(stderr, tc.want) {
			t.Errorf("%s: exit %d, want 2 saying %q\n%s", tc.name, code, tc.want, stderr)
		}
	}
}

// TestReexplainWritesPage: vmtest mutate --reexplain rewrites report.html
// with mutate.json, so the page never shows the explanations of before.
func TestReexplainWritesPage(t *testing.T) {
	dir := writeMutationShards(t, 1)[0]
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := vmtest(t, "mutate", "--reexplain", dir); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if b, err := os.ReadFile(page); err != nil || !strings.Contains(string(b), "vmtest mutate: alloc_pid.c:33-48") {
		t.Errorf("report.html not rewritten: %v %.40q", err, b)
	}
}
