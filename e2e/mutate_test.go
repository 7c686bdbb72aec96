package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/mutate"
	"github.com/vmtest/vmtest/internal/catalog"
)

// pidBoundsCheck is alloc_pid's check of a requested PID's range, named
// by its code (line numbers move with Debian's stable updates).
const pidBoundsCheck = "kernel/pid.c:alloc_pid@if (tid < 1 || tid >= pid_max)"

// TestMutatePidBounds: vmtest mutate on alloc_pid's range check of a
// requested PID, restricted to two operators, makes four mutants, builds
// and boots them with the matrix, and reports each: the matrix kills the
// three that behave differently (a PID of 1, of 0 and of pid_max each
// answered wrongly), and `tid < 2` is the same object code as `tid <= 1`,
// a duplicate that is not booted. The score is 1, which --min-score 1
// accepts, and report.html is written beside mutate.json. The same
// mutants run as two shards and merged give the same result.
func TestMutatePidBounds(t *testing.T) {
	// The suite's cache links the shared cache's build trees as seeds
	// (testutils.SeedCache), so the scratch copy is an incremental build:
	// about 100 s here for the copy, the four mutants and two shards.
	needVMs(t)
	kernel(t, minimalSpec)
	out := filepath.Join(t.TempDir(), "mutate")
	start := time.Now()
	rep, stdout := mutateRun(t, out)
	t.Logf("mutate in %s\nstdout:\n%s", time.Since(start).Round(time.Second), stdout)
	// The mutants by what they change.
	find := func(rep *mutate.Report, op, orig, repl string) *mutate.Result {
		t.Helper()
		for i, m := range rep.Mutants {
			if m.Operator == op && m.Original == orig && m.Replacement == repl {
				return &rep.Mutants[i]
			}
		}
		t.Fatalf("no %s mutant %q → %q among %d", op, orig, repl, len(rep.Mutants))
		return nil
	}
	below1 := find(rep, mutate.OpRelational, "<", "<=")
	below2 := find(rep, mutate.OpConstant, "1", "2")
	below0 := find(rep, mutate.OpConstant, "1", "0")
	pidMax := find(rep, mutate.OpRelational, ">=", ">")
	if len(rep.Mutants) != 4 || rep.Generated != 4 {
		t.Errorf("%d mutants of %d generated, want 4", len(rep.Mutants), rep.Generated)
	}
	known := map[string]bool{}
	for _, c := range catalog.All() {
		known[c.ID] = true
	}
	for _, m := range []*mutate.Result{below1, below0, pidMax} {
		if m.Outcome != mutate.Killed || len(m.Killers) == 0 {
			t.Errorf("%s: %s, killers %v; want killed", m.ID, m.Outcome, m.Killers)
			continue
		}
		for _, k := range m.Killers {
			if !known[k] {
				t.Errorf("%s: killer %q is no case of the matrix", m.ID, k)
			}
		}
		if _, err := os.Stat(filepath.Join(m.ResultDir, "result.json")); err != nil {
			t.Errorf("%s: its run left no result: %v", m.ID, err)
		}
	}
	// The matrix has a case for exactly this boundary.
	if !slices.Contains(pidMax.Killers, "set_tid/pid/pid-max") {
		t.Errorf("%s killed by %v, want set_tid/pid/pid-max", pidMax.ID, pidMax.Killers)
	}
	if below2.Outcome != mutate.Duplicate || below2.DuplicateOf != below1.ID || !slices.Equal(below2.Killers, below1.Killers) {
		t.Errorf("%s: %s of %q, killers %v; want a duplicate of %s sharing its killers", below2.ID, below2.Outcome, below2.DuplicateOf, below2.Killers, below1.ID)
	}
	if below2.ResultDir != "" {
		t.Errorf("the duplicate %s was booted (%s)", below2.ID, below2.ResultDir)
	}
	c := rep.Counts
	if c.Killed != 3 || c.Duplicate != 1 || c.Survived != 0 || rep.Score != 1 || rep.Kernel != mutateSpec() {
		t.Errorf("counts %+v, score %v, kernel %q; want 3 killed, 1 duplicate, score 1 of kernel %s", c, rep.Score, rep.Kernel, mutateSpec())
	}
	if !strings.Contains(stdout, "score 1.000: 3 killed, 0 survived") {
		t.Errorf("stdout lacks the score line:\n%s", stdout)
	}
	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil || !strings.Contains(string(page), "<b>100.0 %</b>score") || !strings.Contains(string(page), pidMax.ID) {
		t.Errorf("report.html: %v, or it lacks the score and %s", err, pidMax.ID)
	}

	// The same mutants as two shards, as two CI jobs would run them, and
	// merged. Both shards run in the whole run's --out, one after the
	// other, to reuse its scratch tree (another would be built from
	// nothing again), each shard's results moved aside after it. Shard
	// 2 is dealt `1`→`2` without its twin `<=`, so it boots it; the merge
	// must fold it back into a duplicate and give the whole run's result.
	moveResults(t, out, t.TempDir())
	var shards []string
	for _, k := range []string{"1/2", "2/2"} {
		start := time.Now()
		r, _ := mutateRun(t, out, "--shard", k)
		t.Logf("shard %s in %s: %+v", k, time.Since(start).Round(time.Second), r.Counts)
		if k == "2/2" {
			if m := find(r, mutate.OpConstant, "1", "2"); m.Outcome != mutate.Killed {
				t.Errorf("shard 2/2: %s %s, want killed (booted: its twin is in shard 1/2)", m.ID, m.Outcome)
			}
		}
		d := filepath.Join(t.TempDir(), "shard")
		moveResults(t, out, d)
		shards = append(shards, d)
	}
	merged := filepath.Join(t.TempDir(), "merged")
	code, stdout, stderr := vmtest(t, append([]string{"merge", "--out", merged, "--min-score", "1"}, shards...)...)
	if code != 0 || !strings.Contains(stdout, "score 1.000: 3 killed, 0 survived") {
		t.Fatalf("merge: exit %d, want 0 with score 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	m, err := mutate.LoadReport(merged)
	if err != nil {
		t.Fatal(err)
	}
	if m.Counts != rep.Counts || m.Score != rep.Score || m.Shard != nil || len(m.Mutants) != len(rep.Mutants) {
		t.Fatalf("merged counts %+v, score %v, shard %v; the whole run has %+v, %v", m.Counts, m.Score, m.Shard, rep.Counts, rep.Score)
	}
	for i, w := range rep.Mutants {
		g := m.Mutants[i]
		if g.ID != w.ID || g.Outcome != w.Outcome || g.DuplicateOf != w.DuplicateOf {
			t.Errorf("merged mutant %d: %s %s (of %q); the whole run has %s %s (of %q)", i, g.ID, g.Outcome, g.DuplicateOf, w.ID, w.Outcome, w.DuplicateOf)
		}
		if g.Outcome == mutate.Killed {
			if _, err := os.Stat(filepath.Join(g.ResultDir, "result.json")); err != nil || !strings.HasPrefix(g.ResultDir, merged) {
				t.Errorf("merged mutant %s: its run %s is not in the merge: %v", g.ID, g.ResultDir, err)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(merged, "report.html")); err != nil {
		t.Error(err)
	}
}

// mutateSpec is the build spec the mutants are made from: the minimal
// kernel's, or EnvMinimal's (make test-boot-paths: mutants without PVH).
func mutateSpec() string {
	if m := os.Getenv(EnvMinimal); m != "" {
		return m
	}
	return minimalSpec
}

// mutateRun runs vmtest mutate on the four mutants of pidBoundsCheck with
// the suite's cache and QEMU into out, with --min-score 1 (they are all
// killed or duplicates), and returns mutate.json and stdout.
func mutateRun(t *testing.T, out string, args ...string) (*mutate.Report, string) {
	t.Helper()
	args = append([]string{"mutate", "--cache", cacheDir, "--qemu", qemuBin, "--kernel", mutateSpec(), "--target", pidBoundsCheck,
		"--operator", mutate.OpRelational, "--operator", mutate.OpConstant, "--min-score", "1", "--out", out}, args...)
	code, stdout, stderr := vmtestWithin(t, 40*time.Minute, args...)
	if code != 0 {
		t.Fatalf("vmtest %q: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
	}
	r, err := mutate.LoadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	return r, stdout
}

// moveResults moves what a vmtest mutate run wrote into out to dir, all
// but the scratch tree, which the next run in out reuses.
func moveResults(t *testing.T, out, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "tree" {
			continue
		}
		if err := os.Rename(filepath.Join(out, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
}
