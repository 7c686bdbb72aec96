package kbuild

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestScratch: a scratch copy of a built spec starts from a seed's
// objects (only the patched file is recompiled), holds the spec's kernel,
// is reused while its stamp names the same build, and editing it touches
// neither the cache's tree nor the user's.
func TestScratch(t *testing.T) {
	needMake(t)
	ctx := context.Background()
	tree := incrementalTree(t)
	dir, cache := t.TempDir(), t.TempDir()
	forkP := writeFile(t, filepath.Join(dir, "fork.patch"), forkPatch)
	exitP := writeFile(t, filepath.Join(dir, "exit.patch"), exitPatch)
	frag := []Input{{Path: "f", Data: []byte("CONFIG_A=y\n")}}
	o := Options{CacheDir: cache, Jobs: 1}
	// An earlier build of another patch set: the seed of the first step.
	if _, err := Build(ctx, Spec{Tree: tree, Fragments: frag, Patches: []string{exitP}}, o); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Tree: tree, Fragments: frag, Patches: []string{forkP}}
	scratchDir := filepath.Join(dir, "scratch")
	workFork := filepath.Join(cache, "build", "tree-"+mustSourceKey(t, spec), "src", "kernel", "fork.c")

	for _, step := range []struct {
		name     string
		edit     func()
		compiled []string // by the scratch copy itself; nil: nothing
		seeded   bool
	}{
		// Build leaves tree-<fork>'s objects, the newest: only the file
		// ours patches is compiled again, to be sure it is ours.
		{"new copy", nil, []string{"kernel/fork.c"}, true},
		{"reused", nil, nil, false},
		{"another spec's copy is made again", func() {
			if err := os.WriteFile(filepath.Join(scratchDir, scratchStamp), []byte("otherkey\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}, []string{"kernel/fork.c"}, true},
	} {
		if step.edit != nil {
			step.edit()
		}
		workBefore, err := os.Stat(workFork)
		if err != nil && step.name != "new copy" {
			t.Fatal(err)
		}
		st, err := Scratch(ctx, spec, o, scratchDir)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if (st.Seeded != "") != step.seeded {
			t.Errorf("%s: seeded from %q, want seeded %v", step.name, st.Seeded, step.seeded)
		}
		if got, want := readFile(t, filepath.Join(st.Obj, "arch", "x86", "boot", "bzImage")), readFile(t, st.Manifest.BzImage); got != want {
			t.Errorf("%s: scratch kernel %q, want the build's %q", step.name, got, want)
		}
		logPath := filepath.Join(st.Obj, "compiled.log")
		lines := strings.Fields(readFile(t, logPath))
		// The log came with the seed; what the copy added follows the
		// seed's lines, or the marker the previous step left.
		got := newCompiles(lines)
		if step.seeded {
			got = lines[len(strings.Fields(readFile(t, filepath.Join(objDir(filepath.Join(st.Seeded, "src")), "compiled.log")))):]
		}
		slices.Sort(got)
		if !slices.Equal(got, step.compiled) {
			t.Errorf("%s: compiled %v, want %v", step.name, got, step.compiled)
		}
		if err := os.WriteFile(logPath, []byte(readFile(t, logPath)+"--\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if workBefore != nil {
			if after, err := os.Stat(workFork); err != nil || !after.ModTime().Equal(workBefore.ModTime()) {
				t.Errorf("%s: the cache's patched fork.c was touched", step.name)
			}
		}
	}

	// Editing the copy as mutate does (a new file and a rename) and
	// rebuilding changes only the copy.
	st, err := Scratch(ctx, spec, o, scratchDir)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(st.Src, "kernel", "pid.c")
	if err := os.WriteFile(p+".new", []byte("// pid.c\nint PID;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".new", p); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Second)
	os.Chtimes(p, future, future)
	if err := runLogged(ctx, st.Src, os.Stderr, "make", "O="+st.Obj, "bzImage"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(readFile(t, filepath.Join(st.Obj, "vmlinux")), "int PID;") {
		t.Error("the scratch copy did not rebuild the edited file")
	}
	if got := readFile(t, filepath.Join(tree, "kernel", "pid.c")); got != "// pid.c\nint pid;\n" {
		t.Errorf("the user's pid.c became %q", got)
	}
	if got := readFile(t, filepath.Join(cache, "build", "tree-"+mustSourceKey(t, spec), "src", "kernel", "pid.c")); got != "// pid.c\nint pid;\n" {
		t.Errorf("the cache's pid.c became %q", got)
	}
}
