package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/vmtest/vmtest/internal/catalog"
)

// TestShardsMergeToWholeRun: four `run --shard K/4` VMs, merged, equal one
// whole run case for case; the merged directory has every format; and
// compare takes it as a side.
func TestShardsMergeToWholeRun(t *testing.T) {
	needVMs(t)
	k := kernel(t, "build")
	tmp := t.TempDir()
	whole := filepath.Join(tmp, "whole")
	if code, _, stderr := vmtest(t, "run", "--kernel", k, "--out", whole); code != 0 {
		t.Fatalf("whole run: exit %d\n%s", code, stderr)
	}
	args := []string{"merge"}
	seen := map[string]int{}
	for i := 1; i <= 4; i++ {
		dir := filepath.Join(tmp, "shard"+strconv.Itoa(i))
		if code, _, stderr := vmtest(t, "run", "--kernel", k, "--shard", fmt.Sprintf("%d/4", i), "--out", dir); code != 0 {
			t.Fatalf("shard %d: exit %d\n%s", i, code, stderr)
		}
		r := loadResult(t, dir)
		if r.Shard == nil || r.Shard.K != i || r.Shard.N != 4 {
			t.Errorf("shard %d: result.json shard = %v", i, r.Shard)
		}
		for _, c := range r.Cases {
			seen[c.ID]++
		}
		args = append(args, dir)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s ran in %d shards", id, n)
		}
	}
	merged := filepath.Join(tmp, "merged")
	args = append(args, "--out", merged)
	if code, _, stderr := vmtest(t, args...); code != 0 {
		t.Fatalf("merge: exit %d\n%s", code, stderr)
	}
	w, m := loadResult(t, whole), loadResult(t, merged)
	if len(m.Cases) != len(catalog.All()) || len(m.Cases) != len(w.Cases) {
		t.Fatalf("merged %d cases, whole run %d, matrix %d", len(m.Cases), len(w.Cases), len(catalog.All()))
	}
	for i := range w.Cases {
		if m.Cases[i].ID != w.Cases[i].ID || m.Cases[i].Outcome != w.Cases[i].Outcome {
			t.Errorf("case %d: merged %s %s, whole %s %s", i, m.Cases[i].ID, m.Cases[i].Outcome, w.Cases[i].ID, w.Cases[i].Outcome)
		}
	}
	for o, n := range w.Summary {
		if m.Summary[o] != n {
			t.Errorf("summary %s: merged %d, whole %d", o, m.Summary[o], n)
		}
	}
	for _, f := range []string{"result.json", "results.ktap", "junit.xml", "kcidb.json", "report.html", "summary.md", "shard-1/console.log", "shard-4/stream.ktap"} {
		if _, err := os.Stat(filepath.Join(merged, f)); err != nil {
			t.Errorf("merged directory lacks %s", f)
		}
	}
	// A merged result is a side of a comparison like any result.
	cmp := filepath.Join(tmp, "cmp")
	if code, stdout, stderr := vmtest(t, "compare", "--base", whole, "--kernel", merged, "--out", cmp); code != 0 {
		t.Fatalf("compare whole vs merged: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if c := readComparison(t, cmp); len(c.Cases) != len(w.Cases) || len(c.Regressions) != 0 {
		t.Errorf("comparison of whole and merged: %d cases, regressions %v", len(c.Cases), c.Regressions)
	}
	// Merging an incomplete set is bad input, exit 2, with nothing written.
	if code, _, stderr := vmtest(t, "merge", args[1], args[2], "--out", filepath.Join(tmp, "half")); code != 2 {
		t.Errorf("merge of two of four shards: exit %d, want 2\n%s", code, stderr)
	}
}
