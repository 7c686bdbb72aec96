package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// kernelRepo is a git repository with the files of a kernel tree vmtest
// bisect checks for and three commits; it returns the hashes.
func kernelRepo(t *testing.T) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	gitc := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, f := range []string{"Makefile", "Kconfig", "arch/x86/Kconfig", "kernel/pid.c"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitc("init", "-q")
	var cs []string
	for i := range 3 {
		gitc("add", "-A")
		gitc("commit", "-q", "--allow-empty", "-m", "c"+string(rune('0'+i)))
		cs = append(cs, gitc("rev-parse", "HEAD"))
	}
	return dir, cs
}

// TestBisectBadInput: what vmtest bisect refuses, with exit 2 and a
// message naming the flag, before anything is checked out or built.
func TestBisectBadInput(t *testing.T) {
	repo, c := kernelRepo(t)
	cache := t.TempDir()
	for _, tc := range []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no tree", []string{"--good", "a", "--bad", "b"}, "--tree: is required"},
		{"not a repository", []string{"--tree", t.TempDir(), "--good", "a", "--bad", "b"}, "is not a git repository"},
		{"bad rev", []string{"--tree", repo, "--good", "v0.0-nope", "--bad", c[2]}, "--good v0.0-nope: does not name a commit of " + repo},
		{"good after bad", []string{"--tree", repo, "--good", c[2], "--bad", c[0]}, "is not an ancestor of --bad " + c[0]},
		{"same commit", []string{"--tree", repo, "--good", c[1], "--bad", c[1]}, "nothing to bisect"},
		{"bad case pattern", []string{"--tree", repo, "--good", c[0], "--bad", c[2], "--case", "nosuch/*"}, "--case \"nosuch/*\""},
		{"missing patch", []string{"--tree", repo, "--good", c[0], "--bad", c[2], "--patch", "/nonexistent.patch"}, "/nonexistent.patch"},
		{"exit mode", []string{"--tree", repo, "--good", c[0], "--bad", c[2], "--exit-mode", "bisect"}, "--exit-mode bisect: is for run and compare"},
	} {
		var stdout, stderr bytes.Buffer
		code := Main(append([]string{"bisect", "--cache", cache}, tc.args...), &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.stderr) || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
			t.Errorf("%s: exit %d, stderr %q; want %d and one line with %q", tc.name, code, stderr.String(), exitUsage, tc.stderr)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(cache, "bisect")); len(ents) != 0 {
		t.Errorf("bad input left a bisection worktree: %v", ents)
	}
}

// TestForwardFlags: every run flag given to vmtest bisect reaches each
// step's vmtest run, repeated flags repeated; bisect's own do not.
func TestForwardFlags(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	addRunFlags(fs)
	fs.String("tree", "", "")
	fs.String("good", "", "")
	args := []string{"--tree", "/t", "--good", "x", "--case", "a/*,b/*", "--exec", "/p,1", "--verbose-console", "--exec", "/q", "--boot-timeout", "90s", "-j", "3", "--accel", "tcg"}
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	got := forwardFlags(fs, args)
	want := []string{"--case=a/*,b/*", "--exec=/p,1", "--verbose-console=true", "--exec=/q", "--boot-timeout=90s", "--j=3", "--accel=tcg"}
	if !slices.Equal(got, want) {
		t.Errorf("forwarded %q, want %q", got, want)
	}
	// They parse back to the same options.
	fs2 := flag.NewFlagSet("t", flag.ContinueOnError)
	rf := addRunFlags(fs2)
	if err := fs2.Parse(got); err != nil {
		t.Fatalf("the step cannot parse %q: %v", got, err)
	}
	if o := rf.options(); !slices.Equal(o.Cases, []string{"a/*", "b/*"}) || !slices.Equal(o.Exec, []string{"/p,1", "/q"}) || rf.jobs != 3 || o.Accel != "tcg" || !o.VerboseConsole {
		t.Errorf("the step got cases %q exec %q -j %d", o.Cases, o.Exec, rf.jobs)
	}
}
