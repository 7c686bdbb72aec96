package kbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/fetch"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// fakeMakefile is enough of a kernel Makefile for load (the version
// lines) and for Build (each target the build runs, done in a few
// milliseconds): tinyconfig writes a config, olddefconfig drops
// CONFIG_DROPPED and CONFIG_GONE as Kconfig drops an option whose
// dependencies are missing, bzImage "links" the config and the (patched) fork.c, and fails
// like a compiler when the config asks for CONFIG_FAIL.
const fakeMakefile = `VERSION = 6
PATCHLEVEL = 1
SUBLEVEL = 99
EXTRAVERSION =

tinyconfig:
	printf 'CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_DROPPED=y\n' > $(O)/.config

olddefconfig:
	sed -i -e '/^CONFIG_DROPPED=/d' -e '/^CONFIG_GONE=/d' $(O)/.config

bzImage:
	@if grep -q '^CONFIG_FAIL=y' $(O)/.config; then \
		for i in 1 2 3 4 5; do echo "  CC      kernel/f$$i.o"; done; \
		echo "kernel/fork.c:3:1: warning: unused variable"; \
		echo "kernel/fork.c:12:3: error: expected ';'"; \
		echo "make[2]: *** [scripts/Makefile.build:250: kernel/fork.o] Error 1"; \
		exit 2; \
	fi
	mkdir -p $(O)/arch/x86/boot
	cat kernel/fork.c > $(O)/vmlinux
	cat $(O)/.config kernel/fork.c > $(O)/arch/x86/boot/bzImage

mrproper:
	rm -f .config
`

const forkC = "// fork.c\nint one;\nint two;\nint three;\n"

// forkPatch edits kernel/fork.c of the fake tree.
const forkPatch = `From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001
From: A U Thor <author@example.com>
Date: Mon, 1 Jan 2024 00:00:00 +0000
Subject: [PATCH] fork: capitalise two

Body.
---
diff --git a/kernel/fork.c b/kernel/fork.c
--- a/kernel/fork.c
+++ b/kernel/fork.c
@@ -1,4 +1,4 @@
 // fork.c
 int one;
-int two;
+int TWO;
 int three;
-- 
2.39.5
`

// newFilePatch creates kernel/new.c and edits kernel/pid.c.
const newFilePatch = `diff --git a/kernel/new.c b/kernel/new.c
new file mode 100644
--- /dev/null
+++ b/kernel/new.c
@@ -0,0 +1 @@
+int added;
diff --git a/kernel/pid.c b/kernel/pid.c
--- a/kernel/pid.c
+++ b/kernel/pid.c
@@ -1,2 +1,2 @@
 // pid.c
-int pid;
+int PID;
`

// badPatch does not apply to the fake tree.
const badPatch = `From 0123456789abcdef0123456789abcdef01234567 Mon Sep 17 00:00:00 2001
From: A U Thor <author@example.com>
Subject: [PATCH] fork: edit a line that is not there

---
--- a/kernel/fork.c
+++ b/kernel/fork.c
@@ -1,4 +1,4 @@
 // fork.c
 int one;
-int seven;
+int SEVEN;
 int three;
`

func writeFile(t *testing.T, path, data string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fakeTree makes a minimal kernel source tree.
func fakeTree(t *testing.T) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "linux")
	writeFile(t, filepath.Join(tree, "Makefile"), fakeMakefile)
	writeFile(t, filepath.Join(tree, "kernel", "fork.c"), forkC)
	writeFile(t, filepath.Join(tree, "kernel", "pid.c"), "// pid.c\nint pid;\n")
	return tree
}

func mustKey(t *testing.T, s Spec) string {
	t.Helper()
	k, err := Key(context.Background(), s)
	if err != nil {
		t.Fatalf("Key(%+v): %v", s, err)
	}
	return k
}

var keyRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestKeyInputs(t *testing.T) {
	tree := fakeTree(t)
	dir := t.TempDir()
	fragA := writeFile(t, filepath.Join(dir, "a.config"), "CONFIG_A=y\n")
	fragACopy := writeFile(t, filepath.Join(dir, "elsewhere", "renamed.config"), "CONFIG_A=y\n")
	fragA2 := writeFile(t, filepath.Join(dir, "a2.config"), "CONFIG_A=m\n")
	fragB := writeFile(t, filepath.Join(dir, "b.config"), "# CONFIG_B is not set\n")
	p1 := writeFile(t, filepath.Join(dir, "1.patch"), forkPatch)
	p1Copy := writeFile(t, filepath.Join(dir, "other", "1.patch"), forkPatch)
	p1Edited := writeFile(t, filepath.Join(dir, "1-edited.patch"), strings.Replace(forkPatch, "+int TWO;", "+int Two;", 1))
	p2 := writeFile(t, filepath.Join(dir, "2.patch"), newFilePatch)
	baseCfg := writeFile(t, filepath.Join(dir, "base.config"), "CONFIG_A=y\n")
	baseCfgCopy := writeFile(t, filepath.Join(dir, "base-copy.config"), "CONFIG_A=y\n")
	baseCfg2 := writeFile(t, filepath.Join(dir, "base2.config"), "CONFIG_A=m\n")

	ref := Spec{Tree: tree, Fragments: []Input{{Path: fragA}}, Patches: []string{p1}}
	refKey := mustKey(t, ref)
	if !keyRE.MatchString(refKey) {
		t.Fatalf("Key = %q, want 16 hex digits", refKey)
	}
	with := func(f func(*Spec)) Spec {
		s := ref
		s.Fragments = append([]Input(nil), ref.Fragments...)
		s.Patches = append([]string(nil), ref.Patches...)
		f(&s)
		return s
	}
	tests := []struct {
		name string
		spec Spec
		same bool
	}{
		{"identical spec", with(func(s *Spec) {}), true},
		{"default base spelled out", with(func(s *Spec) { s.Base = DefaultBase }), true},
		{"fragment moved", with(func(s *Spec) { s.Fragments = []Input{{Path: fragACopy}} }), true},
		{"fragment in memory under another name", with(func(s *Spec) { s.Fragments = []Input{{Path: "built-in minimal", Data: []byte("CONFIG_A=y\n")}} }), true},
		{"patch moved", with(func(s *Spec) { s.Patches = []string{p1Copy} }), true},
		{"tree given by a relative path", with(func(s *Spec) {
			wd, _ := os.Getwd()
			rel, err := filepath.Rel(wd, tree)
			if err != nil {
				t.Fatal(err)
			}
			s.Tree = rel
		}), true},
		{"fragment content changed", with(func(s *Spec) { s.Fragments = []Input{{Path: fragA2}} }), false},
		{"in-memory fragment content changed", with(func(s *Spec) { s.Fragments = []Input{{Path: fragA, Data: []byte("CONFIG_A=n\n")}} }), false},
		{"fragment added", with(func(s *Spec) { s.Fragments = append(s.Fragments, Input{Path: fragB}) }), false},
		{"no fragments", with(func(s *Spec) { s.Fragments = nil }), false},
		{"patch content changed", with(func(s *Spec) { s.Patches = []string{p1Edited} }), false},
		{"patch added", with(func(s *Spec) { s.Patches = append(s.Patches, p2) }), false},
		{"no patches", with(func(s *Spec) { s.Patches = nil }), false},
		{"named base changed", with(func(s *Spec) { s.Base = "defconfig" }), false},
		{"base is a .config", with(func(s *Spec) { s.Base = baseCfg }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := mustKey(t, tt.spec)
			if tt.same && k != refKey {
				t.Errorf("key %s, want the reference key %s", k, refKey)
			}
			if !tt.same && k == refKey {
				t.Errorf("key %s equals the reference key; want a different one", k)
			}
		})
	}

	// Order matters: later fragments win, patches apply in sequence.
	ab := mustKey(t, Spec{Tree: tree, Fragments: []Input{{Path: fragA}, {Path: fragB}}})
	ba := mustKey(t, Spec{Tree: tree, Fragments: []Input{{Path: fragB}, {Path: fragA}}})
	if ab == ba {
		t.Errorf("fragment order does not change the key (%s)", ab)
	}
	p12 := mustKey(t, Spec{Tree: tree, Patches: []string{p1, p2}})
	p21 := mustKey(t, Spec{Tree: tree, Patches: []string{p2, p1}})
	if p12 == p21 {
		t.Errorf("patch order does not change the key (%s)", p12)
	}

	// A .config base is keyed by content.
	b1 := mustKey(t, Spec{Tree: tree, Base: baseCfg})
	b2 := mustKey(t, Spec{Tree: tree, Base: baseCfg2})
	if b1 == b2 {
		t.Errorf("base .config content does not change the key (%s)", b1)
	}
	// Unlike fragments and patches, the base .config's path is part of
	// the key today (Key hashes Spec.Base as given): record that.
	if b3 := mustKey(t, Spec{Tree: tree, Base: baseCfgCopy}); b3 == b1 {
		t.Logf("base .config path is no longer part of the key")
	}
}

func TestKeyPlainTree(t *testing.T) {
	tree := fakeTree(t)
	k1 := mustKey(t, Spec{Tree: tree})
	if k := mustKey(t, Spec{Tree: tree}); k != k1 {
		t.Fatalf("Key not deterministic: %s then %s", k1, k)
	}
	fork := filepath.Join(tree, "kernel", "fork.c")

	// A content change that changes the size.
	writeFile(t, fork, forkC+"int four;\n")
	k2 := mustKey(t, Spec{Tree: tree})
	if k2 == k1 {
		t.Fatalf("editing kernel/fork.c did not change the key %s", k1)
	}

	// Same size, new modification time.
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(fork, future, future); err != nil {
		t.Fatal(err)
	}
	k3 := mustKey(t, Spec{Tree: tree})
	if k3 == k2 {
		t.Fatalf("touching kernel/fork.c did not change the key %s", k2)
	}

	// A new file.
	writeFile(t, filepath.Join(tree, "kernel", "extra.c"), "int x;\n")
	k4 := mustKey(t, Spec{Tree: tree})
	if k4 == k3 {
		t.Fatalf("adding kernel/extra.c did not change the key %s", k3)
	}

	in, err := load(context.Background(), Spec{Tree: tree})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^files [0-9a-f]{16}$`).MatchString(in.identity) {
		t.Errorf("identity = %q, want files <hash>", in.identity)
	}
}

func TestKeyStampedTree(t *testing.T) {
	tree := fakeTree(t)
	stamp := filepath.Join(tree, fetch.SourceStamp)
	writeFile(t, stamp, "debian linux-source-6.1 6.1.99-1\n")
	in, err := load(context.Background(), Spec{Tree: tree})
	if err != nil {
		t.Fatal(err)
	}
	if want := "stamp debian linux-source-6.1 6.1.99-1"; in.identity != want {
		t.Errorf("identity = %q, want %q", in.identity, want)
	}
	k1 := mustKey(t, Spec{Tree: tree})

	// The stamp is the identity: the files are not looked at.
	writeFile(t, filepath.Join(tree, "kernel", "fork.c"), forkC+"int four;\n")
	if k := mustKey(t, Spec{Tree: tree}); k != k1 {
		t.Errorf("stamped tree: editing a file changed the key %s to %s", k1, k)
	}
	// The same stamp elsewhere is the same source.
	other := fakeTree(t)
	writeFile(t, filepath.Join(other, fetch.SourceStamp), "debian linux-source-6.1 6.1.99-1\n")
	if k := mustKey(t, Spec{Tree: other}); k != k1 {
		t.Errorf("same stamp in another directory: key %s, want %s", k, k1)
	}

	writeFile(t, stamp, "debian linux-source-6.1 6.1.99-2\n")
	if k := mustKey(t, Spec{Tree: tree}); k == k1 {
		t.Errorf("changing the stamp did not change the key %s", k1)
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func gitEnv(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	t.Setenv("GIT_AUTHOR_NAME", "Test")
	t.Setenv("GIT_AUTHOR_EMAIL", "test@example.com")
	t.Setenv("GIT_COMMITTER_NAME", "Test")
	t.Setenv("GIT_COMMITTER_EMAIL", "test@example.com")
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", "/dev/null")
}

func TestKeyGitTree(t *testing.T) {
	gitEnv(t)
	tree := fakeTree(t)
	git(t, tree, "init", "-q")
	git(t, tree, "add", ".")
	git(t, tree, "commit", "-q", "-m", "base")
	head := git(t, tree, "rev-parse", "HEAD")

	in, err := load(context.Background(), Spec{Tree: tree})
	if err != nil {
		t.Fatal(err)
	}
	if want := "git " + head; in.identity != want {
		t.Fatalf("clean identity = %q, want %q", in.identity, want)
	}
	clean := mustKey(t, Spec{Tree: tree})

	// An uncommitted edit, and a different one, and back.
	fork := filepath.Join(tree, "kernel", "fork.c")
	writeFile(t, fork, forkC+"int four;\n")
	dirty1 := mustKey(t, Spec{Tree: tree})
	if dirty1 == clean {
		t.Fatalf("uncommitted edit did not change the key %s", clean)
	}
	writeFile(t, fork, forkC+"int five;\n")
	dirty2 := mustKey(t, Spec{Tree: tree})
	if dirty2 == dirty1 || dirty2 == clean {
		t.Fatalf("a second uncommitted edit: key %s (first edit %s, clean %s)", dirty2, dirty1, clean)
	}
	writeFile(t, fork, forkC)
	if k := mustKey(t, Spec{Tree: tree}); k != clean {
		t.Fatalf("edit reverted: key %s, want the clean key %s", k, clean)
	}

	// A new untracked source file.
	extra := writeFile(t, filepath.Join(tree, "kernel", "extra.c"), "int x;\n")
	untracked := mustKey(t, Spec{Tree: tree})
	if untracked == clean {
		t.Fatalf("untracked file did not change the key %s", clean)
	}
	// Its content matters, not just its name.
	writeFile(t, extra, "int yy;\n")
	if k := mustKey(t, Spec{Tree: tree}); k == untracked {
		t.Errorf("editing an untracked file did not change the key %s", untracked)
	}
	// An ignored file does not count (build products are ignored).
	writeFile(t, filepath.Join(tree, ".gitignore"), "*.o\n")
	git(t, tree, "add", ".")
	git(t, tree, "commit", "-q", "-m", "second")
	head2 := git(t, tree, "rev-parse", "HEAD")
	committed := mustKey(t, Spec{Tree: tree})
	if committed == clean || committed == untracked {
		t.Fatalf("new commit: key %s not new", committed)
	}
	if in, err := load(context.Background(), Spec{Tree: tree}); err != nil || in.identity != "git "+head2 {
		t.Fatalf("identity after commit = %q, %v; want git %s", in.identity, err, head2)
	}
	writeFile(t, filepath.Join(tree, "kernel", "fork.o"), "object")
	if k := mustKey(t, Spec{Tree: tree}); k != committed {
		t.Errorf("an ignored file changed the key %s to %s", committed, k)
	}
}

func TestLoadInputErrors(t *testing.T) {
	good := fakeTree(t)
	dir := t.TempDir()
	noMakefile := filepath.Join(dir, "nomake")
	writeFile(t, filepath.Join(noMakefile, "kernel", "fork.c"), forkC)
	makefileDir := filepath.Join(dir, "makedir")
	writeFile(t, filepath.Join(makefileDir, "Makefile", "x"), "")
	writeFile(t, filepath.Join(makefileDir, "kernel", "fork.c"), forkC)
	noFork := filepath.Join(dir, "nofork")
	writeFile(t, filepath.Join(noFork, "Makefile"), fakeMakefile)
	noVersion := filepath.Join(dir, "noversion")
	writeFile(t, filepath.Join(noVersion, "Makefile"), "all:\n\ttrue\n")
	writeFile(t, filepath.Join(noVersion, "kernel", "fork.c"), forkC)
	typo := writeFile(t, filepath.Join(dir, "typo.config"), "CONFIG_A=y\nCONFIG_FOO y\n")
	noDiff := writeFile(t, filepath.Join(dir, "nodiff.patch"), "notes only\n")

	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no tree", Spec{}, "no kernel source tree given"},
		{"missing tree", Spec{Tree: filepath.Join(dir, "missing")}, "is not a kernel source tree (no top-level Makefile)"},
		{"tree without Makefile", Spec{Tree: noMakefile}, "tree " + noMakefile + ": is not a kernel source tree (no top-level Makefile)"},
		{"Makefile is a directory", Spec{Tree: makefileDir}, "(no top-level Makefile)"},
		{"tree without kernel/fork.c", Spec{Tree: noFork}, "tree " + noFork + ": is not a kernel source tree (no kernel/fork.c)"},
		{"Makefile without version", Spec{Tree: noVersion}, "has no VERSION/PATCHLEVEL"},
		{"missing patch", Spec{Tree: good, Patches: []string{filepath.Join(dir, "missing.patch")}}, "missing.patch"},
		{"patch without diff", Spec{Tree: good, Patches: []string{noDiff}}, "contains no diff"},
		{"missing fragment", Spec{Tree: good, Fragments: []Input{{Path: filepath.Join(dir, "missing.config")}}}, "config " + filepath.Join(dir, "missing.config") + ": no such file or directory"},
		{"fragment typo", Spec{Tree: good, Fragments: []Input{{Path: typo}}}, typo + `:2: not a Kconfig assignment: "CONFIG_FOO y"`},
		{"in-memory fragment typo", Spec{Tree: good, Fragments: []Input{{Path: "built-in", Data: []byte("CONFIG_X\n")}}}, "built-in:1: not a Kconfig assignment"},
		{"missing base", Spec{Tree: good, Base: filepath.Join(dir, "missing.config")}, "is neither allnoconfig, defconfig, tinyconfig, x86_64_defconfig nor a readable .config"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Key(context.Background(), tt.spec)
			if err == nil {
				t.Fatalf("Key: no error, key %s", k)
			}
			if !errors.Is(err, inputerr.ErrBadInput) {
				t.Fatalf("error %T %q is not bad input", err, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if k != "" {
				t.Errorf("key %q returned with the error", k)
			}
		})
	}
}

func TestTreeVersion(t *testing.T) {
	tests := []struct {
		makefile string
		want     string
		wantErr  bool
	}{
		{"VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 99\nEXTRAVERSION =\n", "6.1.99", false},
		{"# SPDX\nVERSION = 6\nPATCHLEVEL = 8\nSUBLEVEL = 0\nEXTRAVERSION = -rc3\nNAME = Hurr durr\n", "6.8.0-rc3", false},
		{"VERSION = 5\nPATCHLEVEL = 4\n", "5.4", false},
		{"VERSION = 6\n", "", true},
		{"PATCHLEVEL = 1\n", "", true},
		{"", "", true},
	}
	for _, tt := range tests {
		tree := t.TempDir()
		writeFile(t, filepath.Join(tree, "Makefile"), tt.makefile)
		got, err := treeVersion(tree)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("treeVersion(%q) = %q, %v; want %q, error %v", tt.makefile, got, err, tt.want, tt.wantErr)
		}
	}
}

// syncBuffer is a log for prepareSource, which (like exec.Cmd given two
// different writers) may write from two goroutines at once; Build gives
// it an *os.File.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// scratch returns where prepareSource should put the source: a src
// directory in a fresh, existing work directory.
func scratch(t *testing.T) string {
	work := filepath.Join(t.TempDir(), "tree-x")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(work, "src")
}

// snapshot records every file under dir by content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[p[len(dir):]] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sameFile(t *testing.T, a, b string) bool {
	t.Helper()
	fa, err := os.Stat(a)
	if err != nil {
		t.Fatal(err)
	}
	fb, err := os.Stat(b)
	if err != nil {
		t.Fatal(err)
	}
	return os.SameFile(fa, fb)
}

func TestPrepareSourceLeavesTreeAlone(t *testing.T) {
	ctx := context.Background()
	tree := fakeTree(t)
	dir := t.TempDir()
	p1 := writeFile(t, filepath.Join(dir, "0001-fork.patch"), forkPatch)
	p2 := writeFile(t, filepath.Join(dir, "0002-new.patch"), newFilePatch)
	before := snapshot(t, tree)
	in, err := load(ctx, Spec{Tree: tree, Patches: []string{p1, p2}})
	if err != nil {
		t.Fatal(err)
	}
	src := scratch(t)
	var log syncBuffer
	var progress []string
	if err := prepareSource(ctx, in, src, &log, func(s string) { progress = append(progress, s) }); err != nil {
		t.Fatalf("prepareSource: %v\nlog:\n%s", err, log.String())
	}

	// The scratch copy is patched...
	if got, want := readFile(t, filepath.Join(src, "kernel", "fork.c")), strings.Replace(forkC, "int two;", "int TWO;", 1); got != want {
		t.Errorf("scratch kernel/fork.c =\n%s\nwant\n%s", got, want)
	}
	if got := readFile(t, filepath.Join(src, "kernel", "pid.c")); got != "// pid.c\nint PID;\n" {
		t.Errorf("scratch kernel/pid.c = %q", got)
	}
	if got := readFile(t, filepath.Join(src, "kernel", "new.c")); got != "int added;\n" {
		t.Errorf("scratch kernel/new.c = %q", got)
	}
	if !exists(filepath.Join(src, ".vmtest-ready")) {
		t.Error("scratch tree not marked ready")
	}
	if exists(src + ".partial") {
		t.Error("partial scratch tree left behind")
	}
	// ...the user's tree is byte-identical, with no new file...
	if after := snapshot(t, tree); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("source tree changed:\nbefore %q\nafter  %q", before, after)
	}
	// ...untouched files are shared by hard links, patched ones are not.
	if !sameFile(t, filepath.Join(tree, "Makefile"), filepath.Join(src, "Makefile")) {
		t.Error("Makefile was copied, not hard-linked (cp -al not used?)")
	}
	for _, f := range []string{"kernel/fork.c", "kernel/pid.c"} {
		if sameFile(t, filepath.Join(tree, f), filepath.Join(src, f)) {
			t.Errorf("patched %s is still the user's file", f)
		}
	}
	wantProgress := []string{
		"copying " + tree + " to a scratch tree",
		"applying 0001-fork.patch: fork: capitalise two",
		"applying 0002-new.patch: ",
	}
	if fmt.Sprint(progress) != fmt.Sprint(wantProgress) {
		t.Errorf("progress = %q, want %q", progress, wantProgress)
	}

	// A ready scratch tree is reused as it is.
	writeFile(t, filepath.Join(src, "marker"), "x")
	progress = nil
	if err := prepareSource(ctx, in, src, &log, func(s string) { progress = append(progress, s) }); err != nil {
		t.Fatal(err)
	}
	if !exists(filepath.Join(src, "marker")) || progress != nil {
		t.Errorf("ready scratch tree was prepared again (progress %q)", progress)
	}
}

// TestPrepareSourceBreaksLinks checks the hard-link safety with a patch
// tool that writes files in place. git apply itself replaces each file it
// patches, so with it the user's tree would survive even without
// breakLink; a tool that writes through the link would not.
func TestPrepareSourceBreaksLinks(t *testing.T) {
	bin := t.TempDir()
	writeFile(t, filepath.Join(bin, "git"), "#!/bin/sh\ncat >/dev/null\nprintf 'int in_place;\\n' >> kernel/fork.c\n")
	if err := os.Chmod(filepath.Join(bin, "git"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tree := fakeTree(t)
	p1 := writeFile(t, filepath.Join(t.TempDir(), "fork.patch"), forkPatch)
	before := snapshot(t, tree)
	in, err := load(ctx, Spec{Tree: tree, Patches: []string{p1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	src := scratch(t)
	if err := prepareSource(ctx, in, src, io.Discard, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, filepath.Join(src, "kernel", "fork.c")), forkC+"int in_place;\n"; got != want {
		t.Fatalf("scratch kernel/fork.c = %q, want %q (fake git not used?)", got, want)
	}
	if after := snapshot(t, tree); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("writing the scratch copy in place changed the user's tree:\nbefore %q\nafter  %q", before, after)
	}
}

func TestPrepareSourceGitTree(t *testing.T) {
	// The copy of a git tree is a repository too (with hard-linked
	// objects and index): applying there must not reach the user's.
	gitEnv(t)
	ctx := context.Background()
	tree := fakeTree(t)
	git(t, tree, "init", "-q")
	git(t, tree, "add", ".")
	git(t, tree, "commit", "-q", "-m", "base")
	p1 := writeFile(t, filepath.Join(t.TempDir(), "fork.patch"), forkPatch)
	before := snapshot(t, tree)
	in, err := load(ctx, Spec{Tree: tree, Patches: []string{p1}})
	if err != nil {
		t.Fatal(err)
	}
	src := scratch(t)
	var log syncBuffer
	if err := prepareSource(ctx, in, src, &log, func(string) {}); err != nil {
		t.Fatalf("prepareSource: %v\nlog:\n%s", err, log.String())
	}
	if got := readFile(t, filepath.Join(src, "kernel", "fork.c")); !strings.Contains(got, "int TWO;") {
		t.Errorf("scratch kernel/fork.c not patched:\n%s", got)
	}
	if after := snapshot(t, tree); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("source tree changed")
	}
	if s := git(t, tree, "status", "--porcelain"); s != "" {
		t.Errorf("user's git tree is dirty after prepareSource:\n%s", s)
	}
}

func TestPrepareSourceBuiltInPlace(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	ctx := context.Background()
	tree := fakeTree(t)
	writeFile(t, filepath.Join(tree, ".config"), "CONFIG_A=y\n")
	in, err := load(ctx, Spec{Tree: tree})
	if err != nil {
		t.Fatal(err)
	}
	src := scratch(t)
	var progress []string
	if err := prepareSource(ctx, in, src, io.Discard, func(s string) { progress = append(progress, s) }); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(src, ".config")) {
		t.Error("scratch copy of a tree built in place was not cleaned")
	}
	if got := readFile(t, filepath.Join(tree, ".config")); got != "CONFIG_A=y\n" {
		t.Errorf("user's .config = %q after cleaning the scratch copy", got)
	}
	if len(progress) != 2 || !strings.Contains(progress[1], "make mrproper") {
		t.Errorf("progress = %q, want a note about make mrproper", progress)
	}
}

func TestPrepareSourcePatchDoesNotApply(t *testing.T) {
	ctx := context.Background()
	tree := fakeTree(t)
	dir := t.TempDir()
	good := writeFile(t, filepath.Join(dir, "0001-good.patch"), forkPatch)
	bad := writeFile(t, filepath.Join(dir, "0002-bad.patch"), badPatch)
	before := snapshot(t, tree)
	in, err := load(ctx, Spec{Tree: tree, Patches: []string{good, bad}})
	if err != nil {
		t.Fatal(err)
	}
	src := scratch(t)
	err = prepareSource(ctx, in, src, io.Discard, func(string) {})
	if !errors.Is(err, inputerr.ErrBadInput) {
		t.Fatalf("prepareSource error = %T %v, want bad input", err, err)
	}
	want := fmt.Sprintf("patch %s: message 1 (%q) does not apply to %s: error: patch failed: kernel/fork.c:1", bad, "fork: edit a line that is not there", tree)
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
	if exists(src) {
		t.Error("scratch tree exists after a failed patch")
	}
	if after := snapshot(t, tree); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("source tree changed")
	}
	// Fixed, the series applies on the next try.
	in, err = load(ctx, Spec{Tree: tree, Patches: []string{good}})
	if err != nil {
		t.Fatal(err)
	}
	if err := prepareSource(ctx, in, src, io.Discard, func(string) {}); err != nil {
		t.Fatalf("prepareSource after a failure: %v", err)
	}
}

func TestBreakLink(t *testing.T) {
	dir := t.TempDir()
	orig := writeFile(t, filepath.Join(dir, "orig.c"), "original\n")
	if err := os.Chmod(orig, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.c")
	if err := os.Link(orig, link); err != nil {
		t.Fatal(err)
	}
	if err := breakLink(link); err != nil {
		t.Fatal(err)
	}
	if sameFile(t, orig, link) {
		t.Fatal("breakLink left the hard link in place")
	}
	fi, err := os.Stat(link)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755 kept", fi.Mode().Perm())
	}
	if got := readFile(t, link); got != "original\n" {
		t.Errorf("copy holds %q", got)
	}
	// Writing in place through the copy cannot reach the original.
	f, err := os.OpenFile(link, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("patched\n")
	f.Close()
	if got := readFile(t, orig); got != "original\n" {
		t.Errorf("original now holds %q", got)
	}
	if exists(link + ".vmtest-copy") {
		t.Error("temporary copy left behind")
	}
	// A file the patch creates does not exist yet: nothing to do.
	if err := breakLink(filepath.Join(dir, "new.c")); err != nil {
		t.Errorf("breakLink(missing) = %v, want nil", err)
	}
	if exists(filepath.Join(dir, "new.c")) {
		t.Error("breakLink created a missing file")
	}
}

func TestFirstBuildError(t *testing.T) {
	var lots strings.Builder
	for i := 0; i < 5000; i++ {
		fmt.Fprintf(&lots, "  CC      kernel/file%d.o\n", i)
	}
	tests := []struct {
		name string
		log  string
		want string
	}{
		{
			"compiler error before make's cascade",
			lots.String() +
				"kernel/fork.c:3:1: warning: unused variable 'x'\n" +
				"kernel/fork.c:12:3: error: expected ';' before 'return'\n" +
				"kernel/fork.c:20:3: error: second error\n" +
				"make[2]: *** [scripts/Makefile.build:250: kernel/fork.o] Error 1\n" +
				"make[1]: *** [Makefile:1989: kernel] Error 2\n",
			"kernel/fork.c:12:3: error: expected ';' before 'return'",
		},
		{
			"make error only",
			"  CC kernel/a.o\nmake: *** No rule to make target 'bzImage'.  Stop.\n",
			"make: *** No rule to make target 'bzImage'.  Stop.",
		},
		{
			"linker error",
			"  LD      vmlinux.o\nld: kernel/fork.o: in function `f':\nfork.c:(.text+0x1): undefined reference to `g'\n",
			"fork.c:(.text+0x1): undefined reference to `g'",
		},
		{"leading space trimmed", "   fatal: not a git repository\n", "fatal: not a git repository"},
		{"clean log", lots.String() + "Kernel: arch/x86/boot/bzImage is ready  (#1)\n", ""},
		{"empty log", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, filepath.Join(t.TempDir(), "build.log"), tt.log)
			if got := firstBuildError(p); got != tt.want {
				t.Errorf("firstBuildError = %q, want %q", got, tt.want)
			}
		})
	}
	if got := firstBuildError(filepath.Join(t.TempDir(), "missing.log")); got != "" {
		t.Errorf("firstBuildError(missing) = %q, want empty", got)
	}
}

func TestFirstLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Checking patch kernel/fork.c...\nerror: patch failed: kernel/fork.c:1\nerror: kernel/fork.c: patch does not apply\n", "error: patch failed: kernel/fork.c:1"},
		{"\n  cp: cannot stat 'x'\nsecond\n", "cp: cannot stat 'x'"},
		{"Checking patch kernel/fork.c...\nerror: while searching for:\n// fork.c\nint seven;\n\nerror: patch failed: kernel/fork.c:1\nerror: kernel/fork.c: patch does not apply\n", "error: patch failed: kernel/fork.c:1"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := firstLine(tt.in); got != tt.want {
			t.Errorf("firstLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestErrorStrings(t *testing.T) {
	inner := errors.New("exit status 2")
	e := &Error{Step: "make bzImage", First: "kernel/fork.c:1: error: x", Log: "/c/build.log", Err: inner}
	// One line: the first error and the log are fields, for the caller.
	if want := "make bzImage failed: exit status 2"; e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if want := "copy failed: exit status 2"; (&Error{Step: "copy", Err: inner}).Error() != want {
		t.Errorf("bare Error() = %q, want %q", (&Error{Step: "copy", Err: inner}).Error(), want)
	}
	if !errors.Is(e, inner) {
		t.Error("Error does not unwrap")
	}
}

func needMake(t *testing.T) {
	for _, tool := range []string{"make", "sed", "cp", "git"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
}

// TestBuildFake runs the whole pipeline against the fake Makefile: the
// scratch copy, patching, config merge and check, "make bzImage", install
// and the cache.
func TestBuildFake(t *testing.T) {
	needMake(t)
	ctx := context.Background()
	tree := fakeTree(t)
	dir := t.TempDir()
	cache := t.TempDir()
	patch := writeFile(t, filepath.Join(dir, "0001-fork.patch"), forkPatch)
	fragPath := writeFile(t, filepath.Join(dir, "want.config"), "CONFIG_B=y\nCONFIG_NEW=m\n")
	spec := Spec{Tree: tree, Fragments: []Input{{Path: fragPath}}, Patches: []string{patch}}
	before := snapshot(t, tree)

	var progress []string
	m, err := Build(ctx, spec, Options{CacheDir: cache, Jobs: 1, Progress: func(s string) { progress = append(progress, s) }})
	if err != nil {
		t.Fatalf("Build: %v\nprogress: %q", err, progress)
	}
	key := mustKey(t, spec)
	out := filepath.Join(cache, "build", "kernel-"+key)
	if m.Key != key || m.Cached {
		t.Errorf("manifest key %s cached %v; want %s, false", m.Key, m.Cached, key)
	}
	wantConfig := "CONFIG_A=y\nCONFIG_B=y\nCONFIG_NEW=m\n"
	wantImage := wantConfig + strings.Replace(forkC, "int two;", "int TWO;", 1)
	if m.BzImage != filepath.Join(out, "bzImage") || readFile(t, m.BzImage) != wantImage {
		t.Errorf("bzImage %s =\n%s\nwant\n%s", m.BzImage, readFile(t, m.BzImage), wantImage)
	}
	if got := readFile(t, filepath.Join(out, "config")); got != wantConfig {
		t.Errorf("installed config =\n%s\nwant\n%s", got, wantConfig)
	}
	// The vmlinux the bzImage was made from is kept beside it (runs boot
	// it through PVH), and the manifest names it.
	wantELF := strings.Replace(forkC, "int two;", "int TWO;", 1)
	if m.Vmlinux != filepath.Join(out, "vmlinux") || readFile(t, m.Vmlinux) != wantELF {
		t.Errorf("vmlinux %s =\n%s\nwant\n%s", m.Vmlinux, readFile(t, m.Vmlinux), wantELF)
	}
	if onDisk, err := readManifest(out); err != nil || onDisk.Vmlinux != m.Vmlinux || onDisk.BzImageSHA256 != m.BzImageSHA256 {
		t.Errorf("manifest.json: %+v, %v; want vmlinux %s", onDisk, err, m.Vmlinux)
	}
	if m.ConfigSHA256 != sha([]byte(wantConfig)) || m.BzImageSHA256 != sha([]byte(wantImage)) {
		t.Errorf("manifest hashes config %s image %s", m.ConfigSHA256, m.BzImageSHA256)
	}
	if m.Source.Path != tree || m.Source.Version != "6.1.99" || !strings.HasPrefix(m.Source.Identity, "files ") {
		t.Errorf("manifest source = %+v", m.Source)
	}
	if m.Base != DefaultBase {
		t.Errorf("manifest base = %q, want %q", m.Base, DefaultBase)
	}
	if len(m.Fragments) != 1 || m.Fragments[0] != (FileHash{Path: fragPath, SHA256: sha([]byte("CONFIG_B=y\nCONFIG_NEW=m\n"))}) {
		t.Errorf("manifest fragments = %+v", m.Fragments)
	}
	if len(m.Patches) != 1 || m.Patches[0].Path != patch || m.Patches[0].Index != 1 || m.Patches[0].Subject != "fork: capitalise two" || m.Patches[0].SHA256 != sha([]byte(forkPatch)) {
		t.Errorf("manifest patches = %+v", m.Patches)
	}
	if m.Log != filepath.Join(out, "build.log") || !strings.Contains(readFile(t, m.Log), "cat ") {
		t.Errorf("manifest log %s does not hold the make output", m.Log)
	}
	if after := snapshot(t, tree); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("Build changed the source tree")
	}
	onDisk, err := readManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if onDisk.Key != m.Key || onDisk.BzImageSHA256 != m.BzImageSHA256 || !onDisk.BuiltAt.Equal(m.BuiltAt) || onDisk.Source != m.Source {
		t.Errorf("manifest.json = %+v\nreturned %+v", onDisk, m)
	}
	if exists(out + ".partial") {
		t.Error("partial output left behind")
	}

	// Again: from the cache, without running make.
	progress = nil
	m2, err := Build(ctx, spec, Options{CacheDir: cache, Progress: func(s string) { progress = append(progress, s) }})
	if err != nil {
		t.Fatal(err)
	}
	if !m2.Cached || m2.Key != key || m2.BzImage != m.BzImage || progress != nil {
		t.Errorf("second Build: cached %v key %s progress %q; want a silent cache hit", m2.Cached, m2.Key, progress)
	}

	// A cache entry whose bzImage is gone is rebuilt.
	if err := os.Remove(m.BzImage); err != nil {
		t.Fatal(err)
	}
	if _, err := readManifest(out); err == nil {
		t.Error("readManifest accepted an entry without its bzImage")
	}
	m3, err := Build(ctx, spec, Options{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if m3.Cached || readFile(t, m3.BzImage) != wantImage {
		t.Errorf("rebuild: cached %v", m3.Cached)
	}
}

func TestBuildFakeDroppedOption(t *testing.T) {
	needMake(t)
	tree := fakeTree(t)
	spec := Spec{Tree: tree, Fragments: []Input{{Path: "want", Data: []byte("CONFIG_DROPPED=y\nCONFIG_A=y\nCONFIG_GONE=m\n")}}}
	_, err := Build(context.Background(), spec, Options{CacheDir: t.TempDir(), Jobs: 1})
	if !errors.Is(err, inputerr.ErrBadInput) {
		t.Fatalf("Build error = %T %v, want bad input", err, err)
	}
	want := "config: the fragments ask for options Kconfig dropped (their dependencies are missing; add them to the fragment): CONFIG_DROPPED=y (got n), CONFIG_GONE=m (got n)"
	if err.Error() != want {
		t.Errorf("error =\n%s\nwant\n%s", err, want)
	}
}

func TestBuildFakeCompileError(t *testing.T) {
	needMake(t)
	tree := fakeTree(t)
	cache := t.TempDir()
	spec := Spec{Tree: tree, Fragments: []Input{{Path: "fail", Data: []byte("CONFIG_FAIL=y\n")}}}
	m, err := Build(context.Background(), spec, Options{CacheDir: cache, Jobs: 1})
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("Build = %v, %T %v; want *Error", m, err, err)
	}
	if be.Step != "make bzImage" || be.First != "kernel/fork.c:12:3: error: expected ';'" {
		t.Errorf("Error step %q first %q", be.Step, be.First)
	}
	if !strings.Contains(readFile(t, be.Log), "make[2]: *** [scripts/Makefile.build:250: kernel/fork.o] Error 1") {
		t.Errorf("log %s lacks make's output", be.Log)
	}
	key := mustKey(t, spec)
	if exists(filepath.Join(cache, "build", "kernel-"+key)) {
		t.Error("a failed build left a cache entry")
	}
}
