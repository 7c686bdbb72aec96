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

// incrementalMakefile compiles by modification time, as kbuild does: each
// kernel/*.c becomes an object only when it is newer, and every compile is
// logged, so a test can see what an incremental build redid.
const incrementalMakefile = `VERSION = 6
PATCHLEVEL = 1
SUBLEVEL = 99
EXTRAVERSION =

OBJS := $(O)/kernel/fork.o $(O)/kernel/pid.o $(O)/kernel/exit.o

tinyconfig:
	printf 'CONFIG_A=y\n' > $(O)/.config

olddefconfig:
	true

$(O)/%.o: %.c
	mkdir -p $(dir $@)
	cp $< $@
	echo $< >> $(O)/compiled.log

bzImage: $(OBJS)
	cat $(OBJS) > $(O)/vmlinux
	mkdir -p $(O)/arch/x86/boot
	cp $(O)/vmlinux $(O)/arch/x86/boot/bzImage
`

const exitPatch = `diff --git a/kernel/exit.c b/kernel/exit.c
--- a/kernel/exit.c
+++ b/kernel/exit.c
@@ -1,2 +1,2 @@
 // exit.c
-int exit;
+int EXIT;
`

// incrementalTree is a fake kernel tree of three sources built by
// incrementalMakefile.
func incrementalTree(t *testing.T) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "linux")
	writeFile(t, filepath.Join(tree, "Makefile"), incrementalMakefile)
	writeFile(t, filepath.Join(tree, "kernel", "fork.c"), forkC)
	writeFile(t, filepath.Join(tree, "kernel", "pid.c"), "// pid.c\nint pid;\n")
	writeFile(t, filepath.Join(tree, "kernel", "exit.c"), "// exit.c\nint exit;\n")
	return tree
}

// TestBuildIncremental: a build of a new patch set starts from the objects
// of the last build of the same tree, recompiles only the files either
// patch set touches, and yields exactly what a build from scratch would.
func TestBuildIncremental(t *testing.T) {
	needMake(t)
	ctx := context.Background()
	tree := incrementalTree(t)
	dir, cache := t.TempDir(), t.TempDir()
	forkP := writeFile(t, filepath.Join(dir, "fork.patch"), forkPatch)
	exitP := writeFile(t, filepath.Join(dir, "exit.patch"), exitPatch)
	plain := forkC + "// pid.c\nint pid;\n" + "// exit.c\nint exit;\n"

	for _, step := range []struct {
		name     string
		patches  []string
		seeded   bool
		compiled []string
		image    string
	}{
		{"first build: everything", []string{forkP}, false,
			[]string{"kernel/exit.c", "kernel/fork.c", "kernel/pid.c"}, strings.Replace(plain, "int two;", "int TWO;", 1)},
		// fork.c: the seed compiled the patched version; exit.c: ours.
		{"other patch: both patched files", []string{exitP}, true,
			[]string{"kernel/exit.c", "kernel/fork.c"}, strings.Replace(plain, "int exit;", "int EXIT;", 1)},
		{"no patch: the seed's patched file only", nil, true,
			[]string{"kernel/exit.c"}, plain},
		{"both patches", []string{forkP, exitP}, true,
			[]string{"kernel/exit.c", "kernel/fork.c"}, strings.Replace(strings.Replace(plain, "int exit;", "int EXIT;", 1), "int two;", "int TWO;", 1)},
	} {
		spec := Spec{Tree: tree, Fragments: []Input{{Path: "f", Data: []byte("CONFIG_A=y\n")}}, Patches: step.patches}
		var progress []string
		m, err := Build(ctx, spec, Options{CacheDir: cache, Jobs: 1, Progress: func(s string) { progress = append(progress, s) }})
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := readFile(t, m.BzImage); got != step.image {
			t.Errorf("%s: image\n%s\nwant\n%s", step.name, got, step.image)
		}
		obj := objDir(filepath.Join(cache, "build", "tree-"+mustSourceKey(t, spec), "src"))
		log := readFile(t, filepath.Join(obj, "compiled.log"))
		// The log was copied with the seed: what this build added is after
		// the seed's lines.
		lines := strings.Fields(log)
		var got []string
		if step.seeded {
			seedLog := 0
			for _, p := range progress {
				if strings.HasPrefix(p, "incremental: starting from") {
					seedLog = 1
				}
			}
			if seedLog == 0 {
				t.Errorf("%s: not seeded; progress %q", step.name, progress)
			}
		}
		got = newCompiles(lines)
		slices.Sort(got)
		if !slices.Equal(got, step.compiled) {
			t.Errorf("%s: compiled %v, want %v", step.name, got, step.compiled)
		}
		// Mark the log so the next step can tell its own compiles.
		if err := os.WriteFile(filepath.Join(obj, "compiled.log"), []byte(log+"--\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if after := readFile(t, filepath.Join(tree, "kernel", "fork.c")); after != forkC {
		t.Error("an incremental build changed the source tree")
	}
}

// newCompiles returns the compiles logged after the last "--" marker.
func newCompiles(lines []string) []string {
	var out []string
	for j := len(lines) - 1; j >= 0 && lines[j] != "--"; j-- {
		out = append(out, lines[j])
	}
	return out
}

// TestRebase: text files naming the seed's scratch tree name ours after a
// seed, with their times kept (make must not see them as new); binary
// files and files that do not name it are left alone.
func TestRebase(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "tree-a", "src"), filepath.Join(dir, "tree-b", "src")
	obj := filepath.Join(dir, "obj")
	cmd := writeFile(t, filepath.Join(obj, "tools", "objtool", ".objtool.o.cmd"), "cmd := gcc -I"+from+"/tools/include -o "+from+"/.vmtest-obj/x.o\n")
	bin := writeFile(t, filepath.Join(obj, "tools", "objtool", "objtool"), "\x00ELF "+from+"/x")
	other := writeFile(t, filepath.Join(obj, "kernel", ".pid.o.cmd"), "cmd := gcc -I../include\n")
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, p := range []string{cmd, bin, other} {
		os.Chtimes(p, old, old)
	}
	if err := rebase(obj, from, to); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, cmd); strings.Contains(got, from) || !strings.Contains(got, to+"/tools/include") {
		t.Errorf("rebased .cmd file:\n%s", got)
	}
	if got := readFile(t, bin); !strings.Contains(got, from) {
		t.Error("a binary file was rewritten")
	}
	for _, p := range []string{cmd, bin, other} {
		if fi, _ := os.Stat(p); !fi.ModTime().Equal(old) {
			t.Errorf("%s: mtime %v, want the old %v", p, fi.ModTime(), old)
		}
	}
}

// TestBuildIncrementalStaleScratch: a scratch tree an earlier vmtest
// prepared (its patch applied long before the seed's objects were built,
// as an older cache layout leaves it) still gets its patched files
// recompiled when seeded.
func TestBuildIncrementalStaleScratch(t *testing.T) {
	needMake(t)
	ctx := context.Background()
	tree := incrementalTree(t)
	dir, cache := t.TempDir(), t.TempDir()
	exitP := writeFile(t, filepath.Join(dir, "exit.patch"), exitPatch)
	forkP := writeFile(t, filepath.Join(dir, "fork.patch"), forkPatch)
	spec := func(p string) Spec {
		return Spec{Tree: tree, Fragments: []Input{{Path: "f", Data: []byte("CONFIG_A=y\n")}}, Patches: []string{p}}
	}
	m, err := Build(ctx, spec(exitP), Options{CacheDir: cache, Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	// Leave exit.patch's scratch tree prepared but without objects, its
	// patched exit.c old, as an older vmtest's layout does.
	work := filepath.Join(cache, "build", "tree-"+mustSourceKey(t, spec(exitP)))
	old := time.Now().Add(-time.Hour)
	os.Chtimes(filepath.Join(work, "src", "kernel", "exit.c"), old, old)
	for _, p := range []string{objDir(filepath.Join(work, "src")), filepath.Join(work, seedFile), filepath.Dir(m.BzImage)} {
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Build(ctx, spec(forkP), Options{CacheDir: cache, Jobs: 1}); err != nil {
		t.Fatal(err)
	}
	m, err = Build(ctx, spec(exitP), Options{CacheDir: cache, Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := forkC + "// pid.c\nint pid;\n" + "// exit.c\nint EXIT;\n"
	if got := readFile(t, m.BzImage); got != want {
		t.Errorf("image of a seeded stale scratch tree\n%s\nwant\n%s", got, want)
	}
}

// TestSameTree: a tree reached through a symbolic link is the same tree,
// so that a cache linking to the shared source finds its seeds.
func TestSameTree(t *testing.T) {
	dir := t.TempDir()
	real, other := filepath.Join(dir, "linux"), filepath.Join(dir, "other")
	for _, d := range []string{real, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{real, real, true},
		{link, real, true},
		{real, link, true},
		{real, other, false},
		{link, other, false},
		{filepath.Join(dir, "gone"), real, false},
	} {
		if got := sameTree(tt.a, tt.b); got != tt.want {
			t.Errorf("sameTree(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// TestBuildSeededThroughLink: an empty cache whose build directory links
// another cache's work directory as seed-NAME, and reaches the source
// tree through a symbolic link, builds incrementally from that seed (the
// end-to-end tests' caches are made so) and leaves the seed unchanged.
func TestBuildSeededThroughLink(t *testing.T) {
	needMake(t)
	ctx := context.Background()
	tree := incrementalTree(t)
	dir, shared, fresh := t.TempDir(), t.TempDir(), t.TempDir()
	forkP := writeFile(t, filepath.Join(dir, "fork.patch"), forkPatch)
	exitP := writeFile(t, filepath.Join(dir, "exit.patch"), exitPatch)
	frag := []Input{{Path: "f", Data: []byte("CONFIG_A=y\n")}}
	first := Spec{Tree: tree, Fragments: frag, Patches: []string{forkP}}
	if _, err := Build(ctx, first, Options{CacheDir: shared, Jobs: 1}); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(shared, "build", "tree-"+mustSourceKey(t, first))
	before := readFile(t, filepath.Join(objDir(filepath.Join(work, "src")), "compiled.log"))

	link := filepath.Join(dir, "linux")
	if err := os.Symlink(tree, link); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(fresh, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(work, filepath.Join(fresh, "build", SeedLinkPrefix+"x")); err != nil {
		t.Fatal(err)
	}
	second := Spec{Tree: link, Fragments: frag, Patches: []string{exitP}}
	var progress []string
	m, err := Build(ctx, second, Options{CacheDir: fresh, Jobs: 1, Progress: func(s string) { progress = append(progress, s) }})
	if err != nil {
		t.Fatal(err)
	}
	seeded := slices.ContainsFunc(progress, func(p string) bool { return strings.HasPrefix(p, "incremental: starting from") })
	if !seeded {
		t.Fatalf("not seeded from the linked work directory; progress %q", progress)
	}
	log := readFile(t, filepath.Join(objDir(filepath.Join(fresh, "build", "tree-"+mustSourceKey(t, second), "src")), "compiled.log"))
	got := strings.Fields(strings.TrimPrefix(log, before))
	slices.Sort(got)
	if want := []string{"kernel/exit.c", "kernel/fork.c"}; !slices.Equal(got, want) {
		t.Errorf("compiled %v after the seed, want %v", got, want)
	}
	if img := readFile(t, m.BzImage); !strings.Contains(img, "int EXIT;") || strings.Contains(img, "int TWO;") {
		t.Errorf("image of the second build:\n%s", img)
	}
	if after := readFile(t, filepath.Join(objDir(filepath.Join(work, "src")), "compiled.log")); after != before {
		t.Error("the build changed the seed's object tree")
	}
}
