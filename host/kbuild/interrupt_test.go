package kbuild

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowMakefile's bzImage target starts a compiler stand-in in the
// background, records its PID and waits: what make -j looks like when the
// user presses Ctrl-C.
const slowMakefile = `VERSION = 6
PATCHLEVEL = 1
SUBLEVEL = 99
EXTRAVERSION =

tinyconfig:
	printf 'CONFIG_A=y\n' > $(O)/.config

olddefconfig:
	true

bzImage:
	sh -c 'echo $$$$ > $(O)/child.pid; exec sleep 300' & sleep 300
`

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(st), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// TestBuildInterrupted: cancelling a build (SIGINT in the CLI) ends make
// and what it started within a second, and leaves no cache entry.
func TestBuildInterrupted(t *testing.T) {
	needMake(t)
	tree := filepath.Join(t.TempDir(), "linux")
	writeFile(t, filepath.Join(tree, "Makefile"), slowMakefile)
	writeFile(t, filepath.Join(tree, "kernel", "fork.c"), forkC)
	cache := t.TempDir()
	spec := Spec{Tree: tree, Fragments: []Input{{Path: "f", Data: []byte("CONFIG_A=y\n")}}}
	key := mustKey(t, spec)
	obj := objDir(filepath.Join(cache, "build", "tree-"+mustSourceKey(t, spec), "src"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Build(ctx, spec, Options{CacheDir: cache, Jobs: 2})
		done <- err
	}()
	var child int
	for deadline := time.Now().Add(30 * time.Second); child == 0; {
		if b, err := os.ReadFile(filepath.Join(obj, "child.pid")); err == nil && strings.HasSuffix(string(b), "\n") {
			child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatal("make never started the compiler stand-in")
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("an interrupted build succeeded")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Build did not return within 3s of the cancel")
	}
	for alive(child) {
		if time.Since(start) > time.Second {
			t.Fatalf("make's child %d still runs %s after the cancel", child, time.Since(start))
		}
		time.Sleep(10 * time.Millisecond)
	}
	if exists(filepath.Join(cache, "build", "kernel-"+key)) || exists(filepath.Join(cache, "build", "kernel-"+key+".partial")) {
		t.Error("an interrupted build left a cache entry")
	}
}

func mustSourceKey(t *testing.T, s Spec) string {
	t.Helper()
	in, err := load(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return in.sourceKey()
}

func TestCheckInputsWithoutTree(t *testing.T) {
	dir := t.TempDir()
	noDiff := writeFile(t, filepath.Join(dir, "nodiff.patch"), "notes only\n")
	typo := writeFile(t, filepath.Join(dir, "typo.config"), "CONFIG_FOO y\n")
	for _, tt := range []struct {
		name  string
		spec  Spec
		names []string
		want  string
	}{
		{"fine", Spec{}, nil, ""},
		{"missing patch", Spec{Patches: []string{filepath.Join(dir, "missing.patch")}}, nil, "missing.patch"},
		{"patch without diff", Spec{Patches: []string{noDiff}}, nil, "contains no diff"},
		{"unknown fragment", Spec{}, []string{"no-such-fragment"}, "--config no-such-fragment: no such file, and no built-in fragment"},
		{"fragment typo", Spec{}, []string{typo}, "not a Kconfig assignment"},
		{"unknown base", Spec{Base: "tinyconf"}, nil, `--base "tinyconf" is neither`},
		{"missing tree", Spec{Tree: filepath.Join(dir, "linux")}, nil, "is not a kernel source tree"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := WithFragments(tt.spec, tt.names)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ie *InputError
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &ie) {
				t.Errorf("error %v, want an *InputError containing %q", err, tt.want)
			}
		})
	}
}
