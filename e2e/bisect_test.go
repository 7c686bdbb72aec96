package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/internal/testutils"
)

// gitRepo runs git in dir with a fixed identity and fails t on error.
func gitRepo(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "git", append([]string{"-C", dir, "-c", "user.name=vmtest", "-c", "user.email=vmtest@example.org", "-c", "commit.gpgsign=false"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// ownCopy replaces a hard-linked file of the repository with a copy of
// its own, so that changing it leaves the cache's source tree as it is.
func ownCopy(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// appendComment commits a harmless comment at the end of kernel/pid.c.
func appendComment(t *testing.T, repo, text, subject string) string {
	t.Helper()
	p := filepath.Join(repo, "kernel", "pid.c")
	ownCopy(t, p)
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("/* " + text + " */\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	gitRepo(t, repo, "commit", "-q", "-a", "-m", subject)
	return gitRepo(t, repo, "rev-parse", "HEAD")
}

// TestBisectBrokenPermissionCheck: in a git history of Debian's kernel
// tree where one commit breaks clone3()'s set_tid permission check
// between harmless commits, vmtest bisect names that commit, with the
// userns cases that fail at it, and leaves the repository's checkout
// and bisection state as they were.
func TestBisectBrokenPermissionCheck(t *testing.T) {
	needSlow(t)
	needVMs(t)
	src := testutils.RequireDebianSource(t)
	repo := filepath.Join(t.TempDir(), "linux")
	start := time.Now()
	// Hard links make the copy instant; git add reads the files and
	// every change below replaces a file rather than writing into it.
	if out, err := exec.CommandContext(t.Context(), "cp", "-al", src, repo).CombinedOutput(); err != nil {
		t.Fatalf("copy the tree: %v\n%s", err, out)
	}
	// Debian's .gitignore ends by ignoring everything at the top level
	// (its packaging repository holds no kernel source): drop that part,
	// as a kernel repository has it.
	gi := filepath.Join(repo, ".gitignore")
	ownCopy(t, gi)
	data, err := os.ReadFile(gi)
	if err != nil {
		t.Fatal(err)
	}
	if i := strings.Index(string(data), "\n/*\n"); i >= 0 {
		data = data[:i+1]
	}
	if err := os.WriteFile(gi, data, 0o644); err != nil {
		t.Fatal(err)
	}
	gitRepo(t, repo, "init", "-q")
	gitRepo(t, repo, "add", "-A")
	gitRepo(t, repo, "commit", "-q", "-m", "good1: Debian's linux-source-6.1")
	good1 := gitRepo(t, repo, "rev-parse", "HEAD")
	appendComment(t, repo, "a harmless change", "good2: a comment in kernel/pid.c")
	ownCopy(t, filepath.Join(repo, "kernel", "pid.c"))
	gitRepo(t, repo, "update-index", "-q", "--refresh")
	gitRepo(t, repo, "am", "-q", repoFile(t, "kernels/broken/pid-broken-set_tid-permission-check.patch"))
	bad := gitRepo(t, repo, "rev-parse", "HEAD")
	bad2 := appendComment(t, repo, "another harmless change", "bad2: a comment after the breakage")
	t.Logf("repository of 4 commits in %s", time.Since(start).Round(time.Second))

	out := filepath.Join(t.TempDir(), "bisect")
	start = time.Now()
	code, stdout, stderr := vmtestWithin(t, 50*time.Minute, "bisect", "--cache", cacheDir, "--qemu", qemuBin,
		"--tree", repo, "--good", good1, "--bad", "HEAD", "--case", "set_tid/userns/*", "--out", out)
	t.Logf("bisection in %s\nstdout:\n%s", time.Since(start).Round(time.Second), stdout)
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "first bad commit: "+bad+" pid: check set_tid privilege in the caller's user namespace") {
		t.Errorf("stdout does not name %s as the first bad commit", bad)
	}
	var rep struct {
		FirstBad       string   `json:"first_bad"`
		FirstBadDir    string   `json:"first_bad_result_dir"`
		FirstBadFailed []string `json:"first_bad_failed"`
		Steps          []struct {
			Commit, Verdict string
		} `json:"steps"`
	}
	data, err = os.ReadFile(filepath.Join(out, "bisect.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.FirstBad != bad {
		t.Errorf("bisect.json: first bad %s, want %s", rep.FirstBad, bad)
	}
	// The same cases as compare finds for the patch (run_test.go).
	if !strings.Contains(strings.Join(rep.FirstBadFailed, " "), "set_tid/userns/owner-ancestor-level-eperm") || len(rep.FirstBadFailed) != 7 {
		t.Errorf("failed at the first bad commit: %v, want the 7 userns cases compare finds", rep.FirstBadFailed)
	}
	if r := loadResult(t, rep.FirstBadDir); r.Failed() != true {
		t.Errorf("%s: the first bad commit's result has no failure", rep.FirstBadDir)
	}
	want := map[string]string{bad: "bad", good1: "", bad2: ""}
	for _, s := range rep.Steps {
		if w, ok := want[s.Commit]; ok && w != s.Verdict {
			t.Errorf("step %s: verdict %q, want %q", s.Commit, s.Verdict, w)
		}
	}
	// The repository is as it was: the last commit checked out, no
	// bisection under way, no worktree left.
	if h := gitRepo(t, repo, "rev-parse", "HEAD"); h != bad2 {
		t.Errorf("the repository's HEAD moved to %s", h)
	}
	if wt := gitRepo(t, repo, "worktree", "list", "--porcelain"); strings.Count(wt, "worktree ") != 1 {
		t.Errorf("worktrees left:\n%s", wt)
	}
	if _, err := os.Stat(filepath.Join(repo, ".git", "BISECT_LOG")); err == nil {
		t.Error("the repository has a bisection under way")
	}
}

// TestExitModeBisect: vmtest run --exit-mode bisect gives git bisect
// run's statuses for what really happens in a VM: a kernel that fails
// cases is bad, the unbroken one good, a VM that never ran the cases is a
// skip, and bad input aborts the bisection.
func TestExitModeBisect(t *testing.T) {
	needVMs(t)
	broken := repoFile(t, "kernels/broken/pid-broken-set_tid-permission-check.patch")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"bad input aborts", []string{"--kernel", filepath.Join(t.TempDir(), "no-bzImage")}, 128, "exit 128 (abort the bisection)"},
		{"a case failing is bad", []string{"--kernel", kernel(t, "build:patch="+broken), "--case", "set_tid/userns/owner-ancestor-level-eperm"}, 1, ""},
		{"all passing is good", []string{"--kernel", kernel(t, "build"), "--case", "set_tid/userns/owner-ancestor-level-eperm"}, 0, ""},
		{"a panic before the cases is a skip", []string{"--kernel", debianKernel(t), "--debug", "panic", "--case", "clone3/plain/*"}, 125, "exit 125 (skip"},
		{"no sign of life is a skip", []string{"--kernel", debianKernel(t), "--debug", "silent", "--boot-timeout", "12s", "--case", "clone3/plain/*"}, 125, "exit 125 (skip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--exit-mode", "bisect", "--out", filepath.Join(t.TempDir(), "run")}, tc.args...)
			code, _, stderr := vmtest(t, args...)
			if code != tc.code || !strings.Contains(stderr, tc.stderr) {
				t.Errorf("exit %d, want %d with %q\nstderr:\n%s", code, tc.code, tc.stderr, stderr)
			}
		})
	}
}

// TestCompareEachPatch: a series of the broken permission check and its
// revert changes the userns cases twice: patch 1 regresses them, patch 2
// fixes them, and over the whole series nothing changed (exit 0).
func TestCompareEachPatch(t *testing.T) {
	needVMs(t)
	src := testutils.RequireDebianSource(t)
	broken := repoFile(t, "kernels/broken/pid-broken-set_tid-permission-check.patch")
	// The revert, made by git from kernel/pid.c alone.
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "kernel"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(src, "kernel", "pid.c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kernel", "pid.c"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	gitRepo(t, dir, "init", "-q")
	gitRepo(t, dir, "add", "-A")
	gitRepo(t, dir, "commit", "-q", "-m", "pid.c")
	gitRepo(t, dir, "am", "-q", broken)
	gitRepo(t, dir, "revert", "--no-edit", "HEAD")
	revert := filepath.Join(t.TempDir(), "revert.patch")
	if err := os.WriteFile(revert, []byte(gitRepo(t, dir, "format-patch", "-1", "--stdout", "HEAD")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "series")
	start := time.Now()
	code, stdout, stderr := vmtestWithin(t, 40*time.Minute, "compare", "--each-patch", "--kernel", "build:patch="+broken+",patch="+revert, "--case", "set_tid/userns/*", "--out", out)
	t.Logf("series of 2 in %s\nstdout:\n%s", time.Since(start).Round(time.Second), stdout)
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	var s struct {
		Steps []struct{ Patches int }
		Cases []struct {
			ID      string
			Changes []struct {
				Patch   int
				Verdict string
			}
			Verdict string
		}
	}
	data, err = os.ReadFile(filepath.Join(out, "series.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Steps) != 3 {
		t.Fatalf("%d steps, want base and 2 prefixes", len(s.Steps))
	}
	changed := 0
	for _, c := range s.Cases {
		if c.Verdict != "unchanged-pass" {
			t.Errorf("%s: series verdict %s, want unchanged-pass", c.ID, c.Verdict)
		}
		if len(c.Changes) == 0 {
			continue
		}
		changed++
		if len(c.Changes) != 2 || c.Changes[0].Patch != 1 || c.Changes[0].Verdict != "regressed" || c.Changes[1].Patch != 2 || c.Changes[1].Verdict != "fixed" {
			t.Errorf("%s: changes %+v, want regressed by patch 1 and fixed by patch 2", c.ID, c.Changes)
		}
	}
	if changed != 7 {
		t.Errorf("%d cases changed, want the 7 the broken check fails", changed)
	}
	for _, f := range []string{"series.md", "step-0/result.json", "step-1/result.json", "step-2/result.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
}
