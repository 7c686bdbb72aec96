package mutate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTreeObjects builds kernel/pid.o in a scratch copy of a real kernel
// tree (kbuild.Scratch's, as vmtest mutate leaves it in --out/tree): the
// original twice (the digest must be reproducible, or every mutant would
// look non-equivalent), a boundary mutant (must differ), and a mutant
// that cannot compile (a *CompileError); the file is put back at the
// end. It needs VMTEST_MUTATE_SCRATCH=DIR (DIR/src/.vmtest-obj built).
func TestTreeObjects(t *testing.T) {
	from := os.Getenv("VMTEST_MUTATE_SCRATCH")
	if from == "" || testing.Short() {
		t.Skip("set VMTEST_MUTATE_SCRATCH to a scratch copy (and drop -short) to build real kernel objects")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	var log strings.Builder
	tree := &Tree{Src: filepath.Join(from, "src"), Obj: filepath.Join(from, "src", ".vmtest-obj"), Jobs: 2, Log: &log}
	const file = "kernel/pid.c"
	src, err := tree.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	digest := func() string {
		t.Helper()
		start := time.Now()
		obj, err := tree.Object(ctx, file)
		if err != nil {
			t.Fatalf("%v\n%s", err, log.String())
		}
		d, err := CodeDigest(obj)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("built %s in %.1fs", obj, time.Since(start).Seconds())
		return d
	}
	orig := digest()
	ms, err := Generate(Target{File: file, Func: "alloc_pid"}, src, []string{OpRelational})
	if err != nil || len(ms) == 0 {
		t.Fatalf("no relational mutants: %v", err)
	}
	if err := tree.WriteFile(file, ms[0].Apply(src)); err != nil {
		t.Fatal(err)
	}
	if d := digest(); d == orig {
		t.Errorf("%s compiled to the original's code", ms[0].ID)
	}
	broken := Mutant{Start: ms[0].Start, End: ms[0].End, Replacement: "@"}
	tree.WriteFile(file, broken.Apply(src))
	_, err = tree.Object(ctx, file)
	var ce *CompileError
	if !errors.As(err, &ce) || !strings.Contains(ce.First, "error") {
		t.Errorf("broken source: err = %v, want a CompileError naming the error", err)
	}
	tree.WriteFile(file, src)
	if d := digest(); d != orig {
		t.Error("rebuilding the original gave another digest: equivalence cannot be judged")
	}
	if b, _ := os.ReadFile(filepath.Join(tree.Src, file)); string(b) != string(src) {
		t.Error("the original was not put back")
	}
}
