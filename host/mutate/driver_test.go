package mutate

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// gccTree is a Builder over one C file compiled by gcc: its "kernel" is
// the source itself, which gccRunner compiles with a test harness.
type gccTree struct {
	dir    string
	mu     sync.Mutex
	builds int
}

func (g *gccTree) ReadFile(rel string) ([]byte, error) { return os.ReadFile(filepath.Join(g.dir, rel)) }
func (g *gccTree) WriteFile(rel string, data []byte) error {
	return os.WriteFile(filepath.Join(g.dir, rel), data, 0o644)
}

func (g *gccTree) Object(ctx context.Context, rel string) (string, error) {
	src := filepath.Join(g.dir, rel)
	obj := strings.TrimSuffix(src, ".c") + ".o"
	out, err := exec.CommandContext(ctx, "gcc", "-O2", "-c", "-o", obj, src).CombinedOutput()
	if err != nil {
		return "", &CompileError{Target: rel, First: firstErrorLine(string(out)), Err: err}
	}
	return obj, nil
}

func (g *gccTree) Kernel(ctx context.Context, dir string) (string, error) {
	g.mu.Lock()
	g.builds++
	g.mu.Unlock()
	data, err := os.ReadFile(filepath.Join(g.dir, "f.c"))
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	dest := filepath.Join(dir, "kernel.c")
	return dest, os.WriteFile(dest, data, 0o644)
}

// gccRunner "boots" a kernel by compiling it with a harness whose
// checks are the cases: it prints the name of each check that fails.
type gccRunner struct{ harness string }

func (r gccRunner) Run(ctx context.Context, kernel, out string) (*RunOutcome, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, err
	}
	src := filepath.Join(out, "t.c")
	data, err := os.ReadFile(kernel)
	if err != nil {
		return nil, err
	}
	os.WriteFile(src, append(data, r.harness...), 0o644)
	bin := filepath.Join(out, "t")
	if b, err := exec.CommandContext(ctx, "gcc", "-O2", "-o", bin, src).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("harness: %v: %s", err, b)
	}
	b, err := exec.CommandContext(ctx, bin).Output()
	if err != nil {
		return nil, err
	}
	return &RunOutcome{Status: "completed", Failed: strings.Fields(string(b)), Dir: out}, nil
}

const driverSrc = `#define EINVAL 22
#define EPERM 1
int f(int x)
{
	int arr[4];
	_Static_assert(sizeof(arr) == 16, "four ints");
	if (x < 10)
		return -EINVAL;
	return x + 1;
}
`

// The checks leave x == 9 and x == 10 untested: the boundary survives.
const driverHarness = `
#include <stdio.h>
int main(void)
{
	if (f(5) != -22) puts("small-is-einval");
	if (f(20) != 21) puts("big-is-next");
	return 0;
}
`

func TestRunDriver(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found")
	}
	dir := t.TempDir()
	tree := &gccTree{dir: dir}
	if err := os.WriteFile(filepath.Join(dir, "f.c"), []byte(driverSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	ms, err := Generate(Target{File: "f.c", Func: "f"}, []byte(driverSrc), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, ms, Options{Builder: tree, Runner: gccRunner{driverHarness}, Out: filepath.Join(dir, "out")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var keys []string
	for _, r := range res {
		k := fmt.Sprintf("%s %s→%s", r.Operator, short(r.Original), short(r.Replacement))
		v := string(r.Outcome)
		if r.Outcome == Killed {
			v += " " + strings.Join(r.Killers, ",")
		}
		got[k] = v
		keys = append(keys, k)
	}
	want := map[string]string{
		"constant-off-by-one 4→5":   "stillborn",
		"constant-off-by-one 4→3":   "stillborn",
		"constant-off-by-one 16→17": "stillborn",
		"constant-off-by-one 16→15": "stillborn",
		`delete-statement _Static_assert(sizeof(arr) == 16, "four ints");→;`: "equivalent",
		"negate-condition x < 10→!(x < 10)":                                  "killed small-is-einval,big-is-next",
		"condition-true x < 10→1 || (x < 10)":                                "killed big-is-next",
		"condition-false x < 10→0 && (x < 10)":                               "killed small-is-einval",
		"relational-boundary <→<=":                                           "survived",
		"constant-off-by-one 10→11":                                          "duplicate",
		"constant-off-by-one 10→9":                                           "survived",
		// Removing the exit compiles to what forcing its condition false does.
		"remove-error-exit return -EINVAL;→{}": "duplicate",
		"errno-swap EINVAL→EPERM":              "killed small-is-einval",
		"constant-off-by-one 1→2":              "killed big-is-next",
		"constant-off-by-one 1→0":              "killed big-is-next",
	}
	sort.Strings(keys)
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %q, want %q", k, got[k], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d mutants, want %d: %q", len(got), len(want), keys)
	}
	// The original is back in place, and only the kernels that needed
	// a run were built: not the stillborn, equivalent or duplicate.
	if b, _ := os.ReadFile(filepath.Join(dir, "f.c")); string(b) != driverSrc {
		t.Errorf("f.c not restored:\n%s", b)
	}
	if tree.builds != 8 {
		t.Errorf("%d kernel builds, want 8", tree.builds)
	}
	rep := NewReport([]string{"f.c:f"}, "", res)
	if rep.Counts.Killed != 6 || rep.Counts.Survived != 2 || rep.Score != 0.75 {
		t.Errorf("counts %+v score %v, want 6 killed, 2 survived, 0.75", rep.Counts, rep.Score)
	}
	if !rep.Below(0.8) || rep.Below(0.75) {
		t.Errorf("Below: 0.75 should miss 0.8 and meet 0.75")
	}
	md := rep.Markdown()
	for _, s := range []string{"Score **75.0%**: 6 killed of 8 scored", "### relational-boundary@f.c:7:8", "-\tif (x < 10)\n+\tif (x <= 10)", "| relational-boundary | 1 | 0 | 0 | 0 | 0 | 1 | 0 |"} {
		if !strings.Contains(md, s) {
			t.Errorf("mutate.md lacks %q:\n%s", s, md)
		}
	}
	// An explanation of one survivor (matched by code, not by ID: the ID
	// written down is stale) marks it explained and leaves the score; one
	// whose code is gone is reported unused.
	var boundary Mutant
	for _, r := range res {
		if r.Operator == OpRelational {
			boundary = r.Mutant
		}
	}
	good := Explanation{ID: "relational-boundary@f.c:99:1", File: "f.c", Function: "f", Operator: OpRelational, Code: "if (x < 10)", Original: "<", Replacement: "<=", Why: "x is never 10"}
	stale := good
	stale.Code = "if (x < 11)"
	if boundary.Code() != good.Code {
		t.Fatalf("boundary mutant's code %q, want %q", boundary.Code(), good.Code)
	}
	unused := Explain(res, []Explanation{good, stale})
	rep.UnusedExplanations = unused
	rep.Tally()
	if len(unused) != 1 || unused[0].Code != stale.Code {
		t.Errorf("unused explanations %+v, want the stale one", unused)
	}
	if rep.Counts.Survived != 2 || rep.Counts.Explained != 1 || rep.Score != 0.75 {
		t.Errorf("after explaining: counts %+v score %v, want 2 survived, 1 explained, 0.75", rep.Counts, rep.Score)
	}
	md = rep.Markdown()
	expl, unexpl := strings.Index(md, "## "+explainedTitle), strings.Index(md, "## Survivors, unexplained")
	if expl < 0 || unexpl < 0 || !strings.Contains(md[expl:], "**Explanation**: x is never 10") ||
		!strings.Contains(md[unexpl:expl], "### constant-off-by-one@f.c:7:10#2") || strings.Contains(md[unexpl:expl], "x is never 10") ||
		!strings.Contains(md, "1 of them with an explanation") || !strings.Contains(md, "matched no mutant") {
		t.Errorf("mutate.md does not list the explained survivor apart from the unexplained one:\n%s", md)
	}
	// Judged again from mutate.json, without the stale entry: the same
	// survivor explained, nothing unused.
	if err := rep.Write(dir); err != nil {
		t.Fatal(err)
	}
	again, err := ReadReport(filepath.Join(dir, "mutate.json"))
	if err != nil {
		t.Fatal(err)
	}
	again.Reexplain([]Explanation{good})
	if again.Counts != rep.Counts || len(again.UnusedExplanations) != 0 {
		t.Errorf("re-explained: counts %+v, unused %v; want %+v and none", again.Counts, again.UnusedExplanations, rep.Counts)
	}
	again.Reexplain(nil)
	if again.Counts.Explained != 0 {
		t.Errorf("re-explained with nothing: %d explained", again.Counts.Explained)
	}
	// A duplicate carries the outcome of the mutant it folds into.
	dup := map[string]string{}
	for _, r := range res {
		if r.Outcome == Duplicate {
			dup[r.ID] = r.Detail
		}
	}
	wantDup := map[string]string{
		"constant-off-by-one@f.c:7:10": "same object code as relational-boundary@f.c:7:8 (survived)",
		"remove-error-exit@f.c:8:3":    "same object code as condition-false@f.c:7:6 (killed)",
	}
	if fmt.Sprint(dup) != fmt.Sprint(wantDup) {
		t.Errorf("duplicates %v, want %v", dup, wantDup)
	}
}

// TestRunRestoresOnCancel: a cancelled run leaves the original file.
func TestRunRestoresOnCancel(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f.c"), []byte(driverSrc), 0o644)
	ms, _ := Generate(Target{File: "f.c", Func: "f"}, []byte(driverSrc), nil)
	ctx, cancel := context.WithCancel(context.Background())
	runner := cancelRunner{cancel}
	_, err := Run(ctx, ms, Options{Builder: &gccTree{dir: dir}, Runner: runner, Out: filepath.Join(dir, "out")})
	if err == nil {
		t.Error("cancelled run returned no error")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "f.c")); string(b) != driverSrc {
		t.Errorf("f.c not restored after cancel:\n%s", b)
	}
}

type cancelRunner struct{ cancel func() }

func (c cancelRunner) Run(ctx context.Context, kernel, out string) (*RunOutcome, error) {
	c.cancel()
	return nil, ctx.Err()
}
