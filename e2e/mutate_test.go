package e2e

import (
	"encoding/json"
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
// accepts, and report.html is written beside mutate.json.
func TestMutatePidBounds(t *testing.T) {
	// The suite's cache holds the minimal kernel but no built tree to
	// seed the scratch copy's objects from, so the copy is built from
	// nothing first: about 20 minutes here, the four mutants a few more.
	needSlow(t)
	needVMs(t)
	kernel(t, "build")
	out := filepath.Join(t.TempDir(), "mutate")
	start := time.Now()
	code, stdout, stderr := vmtestWithin(t, 40*time.Minute, "mutate", "--cache", cacheDir, "--qemu", qemuBin,
		"--kernel", "build", "--target", pidBoundsCheck,
		"--operator", mutate.OpRelational, "--operator", mutate.OpConstant,
		"--min-score", "1", "--out", out)
	t.Logf("mutate in %s\nstdout:\n%s", time.Since(start).Round(time.Second), stdout)
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var rep mutate.Report
	data, err := os.ReadFile(filepath.Join(out, "mutate.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	// The mutants by what they change.
	find := func(op, orig, repl string) *mutate.Result {
		t.Helper()
		for i, m := range rep.Mutants {
			if m.Operator == op && m.Original == orig && m.Replacement == repl {
				return &rep.Mutants[i]
			}
		}
		t.Fatalf("no %s mutant %q → %q among %d", op, orig, repl, len(rep.Mutants))
		return nil
	}
	below1 := find(mutate.OpRelational, "<", "<=")
	below2 := find(mutate.OpConstant, "1", "2")
	below0 := find(mutate.OpConstant, "1", "0")
	pidMax := find(mutate.OpRelational, ">=", ">")
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
	if c.Killed != 3 || c.Duplicate != 1 || c.Survived != 0 || rep.Score != 1 || rep.Kernel != "build" {
		t.Errorf("counts %+v, score %v, kernel %q; want 3 killed, 1 duplicate, score 1 of kernel build", c, rep.Score, rep.Kernel)
	}
	if !strings.Contains(stdout, "score 1.000: 3 killed, 0 survived") {
		t.Errorf("stdout lacks the score line:\n%s", stdout)
	}
	page, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil || !strings.Contains(string(page), "<b>100.0 %</b>score") || !strings.Contains(string(page), pidMax.ID) {
		t.Errorf("report.html: %v, or it lacks the score and %s", err, pidMax.ID)
	}
}
