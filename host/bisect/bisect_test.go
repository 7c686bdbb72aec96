package bisect

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/internal/inputerr"
)

// gitT runs git in dir with a fixed identity, failing t on error.
func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// fakeKernel makes a git repository with the files Check looks for and
// one commit per state; a state is kernel/pid.c's content. It returns
// the repository and the commits' hashes.
func fakeKernel(t *testing.T, states ...string) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	dir := t.TempDir()
	for _, f := range kernelFiles {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitT(t, dir, "init", "-q")
	var commits []string
	for i, s := range states {
		if err := os.WriteFile(filepath.Join(dir, "kernel", "pid.c"), []byte(s+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		gitT(t, dir, "add", "-A")
		gitT(t, dir, "commit", "-q", "--allow-empty", "-m", "commit "+string(rune('a'+i))+" "+s)
		commits = append(commits, gitT(t, dir, "rev-parse", "HEAD"))
	}
	return dir, commits
}

func TestCheck(t *testing.T) {
	repo, c := fakeKernel(t, "good", "good", "bad")
	side := t.TempDir()
	gitT(t, side, "init", "-q")
	gitT(t, side, "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "not a kernel")
	for _, tc := range []struct {
		name, tree, good, bad string
		field, problem        string // "" field: no error
	}{
		{"ok", repo, c[0], c[2], "", ""},
		{"symbolic revs", repo, "HEAD~2", "HEAD", "", ""},
		{"no tree", "", c[0], c[2], "tree", "is required"},
		{"missing tree", filepath.Join(repo, "nope"), c[0], c[2], "tree", "is not a directory"},
		{"not a repository", t.TempDir(), "a", "b", "tree", "is not a git repository"},
		{"not a kernel", side, "HEAD", "HEAD", "good", "same commit"},
		{"no good", repo, "", c[2], "good", "is required"},
		{"bad rev", repo, c[0], "nosuchrev", "bad", "does not name a commit"},
		{"option-like rev", repo, "--all", c[2], "good", "does not name a commit"},
		{"same", repo, c[1], c[1], "good", "same commit"},
		{"swapped", repo, c[2], c[0], "good", "is not an ancestor"},
	} {
		r, err := Check(context.Background(), tc.tree, tc.good, tc.bad)
		if tc.field == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			} else if r.Good != c[0] || r.Bad != c[2] || r.Commits != 2 {
				t.Errorf("%s: %+v, want good %s bad %s 2 commits", tc.name, r, c[0], c[2])
			}
			continue
		}
		ie, ok := errors.AsType[*inputerr.Error](err)
		if !ok || !errors.Is(err, inputerr.ErrBadInput) || ie.Field != tc.field || !strings.Contains(err.Error(), tc.problem) {
			t.Errorf("%s: error %v, want bad input in %s saying %q", tc.name, err, tc.field, tc.problem)
		}
	}
	// A repository whose bad commit lacks a kernel's files.
	gitT(t, side, "commit", "-q", "--allow-empty", "-m", "still not a kernel")
	if _, err := Check(context.Background(), side, "HEAD~1", "HEAD"); err == nil || !strings.Contains(err.Error(), "is not a Linux kernel tree") {
		t.Errorf("a repository without a kernel: %v, want not a Linux kernel tree", err)
	}
}

// step is a bisection step: bad when kernel/pid.c says "bad", skip when
// it says "skip", abort when it says "abort".
const step = `case "$(cat kernel/pid.c)" in
bad) exit 1;; skip) exit 125;; abort) exit 128;; *) exit 0;;
esac`

func TestRun(t *testing.T) {
	for _, tc := range []struct {
		name       string
		states     []string
		firstBad   int // index of the first bad commit, -1 for none
		candidates int
		rechecked  bool
		err        string
	}{
		{"middle", []string{"good", "good", "good", "bad", "bad", "bad"}, 3, 0, false, ""},
		{"right after good", []string{"good", "bad", "bad", "bad"}, 1, 0, false, ""},
		{"the bad endpoint", []string{"good", "good", "good", "bad"}, 3, 0, true, ""},
		{"bad endpoint passes", []string{"good", "good", "good"}, -1, 0, true, "no commit in the range is bad"},
		{"bad endpoint untestable", []string{"good", "good", "skip"}, -1, 0, true, "cannot be tested"},
		{"skip before the breakage", []string{"good", "skip", "good", "bad", "bad"}, 3, 0, false, ""},
		// Skipped right before the first bad: it could be either.
		{"skip next to the breakage", []string{"good", "good", "skip", "bad", "bad"}, -1, 2, false, "every commit left to test was skipped"},
		{"only skips left", []string{"good", "skip", "skip", "bad"}, -1, 3, false, "every commit left to test was skipped"},
		{"a step aborts", []string{"good", "abort", "abort", "abort", "bad"}, -1, 0, false, "git bisect run stopped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo, c := fakeKernel(t, tc.states...)
			r, err := Check(context.Background(), repo, c[0], c[len(c)-1])
			if err != nil {
				t.Fatal(err)
			}
			wt := filepath.Join(t.TempDir(), "wt")
			oc, err := Run(context.Background(), r, Options{Worktree: wt, Step: []string{"sh", "-c", step}})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("error %v, want %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			want := ""
			if tc.firstBad >= 0 {
				want = c[tc.firstBad]
			}
			if oc.FirstBad != want || len(oc.Candidates) != tc.candidates || oc.FirstBadRechecked != tc.rechecked {
				t.Errorf("first bad %q candidates %v rechecked %v; want %q, %d candidates, rechecked %v", oc.FirstBad, oc.Candidates, oc.FirstBadRechecked, want, tc.candidates, tc.rechecked)
			}
			// Every step's verdict is what the step script says of it.
			for _, s := range oc.Steps {
				i := index(c, s.Commit)
				if i <= 0 || i >= len(c) && !tc.rechecked {
					t.Errorf("step %s is not a commit after good", s.Commit)
					continue
				}
				if w := map[string]Verdict{"good": Good, "bad": Bad, "skip": Skip}[tc.states[i]]; w != "" && s.Verdict != w {
					t.Errorf("step %d: verdict %s, want %s", i, s.Verdict, w)
				}
			}
			if tc.rechecked {
				if last := oc.Steps[len(oc.Steps)-1]; last.Commit != c[len(c)-1] || last.Verdict != Verdict(tc.states[len(c)-1]) {
					t.Errorf("re-check of the bad endpoint: %+v, want %s", last, tc.states[len(c)-1])
				}
			}
			// The worktree and the bisection are gone; the checkout is untouched.
			if _, err := os.Stat(wt); err == nil {
				t.Error("the worktree is left behind")
			}
			if l := gitT(t, repo, "worktree", "list"); strings.Count(l, "\n") != 0 {
				t.Errorf("worktrees left: %s", l)
			}
			if h := gitT(t, repo, "rev-parse", "HEAD"); h != c[len(c)-1] {
				t.Errorf("the repository's HEAD moved to %s", h)
			}
		})
	}
}

func index(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// TestRunCancelled: a cancelled bisection stops its step and says so.
func TestRunCancelled(t *testing.T) {
	repo, c := fakeKernel(t, "good", "good", "bad")
	r, err := Check(context.Background(), repo, c[0], c[2])
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	marker := filepath.Join(t.TempDir(), "started")
	go func() {
		for {
			if _, err := os.Stat(marker); err == nil {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	_, err = Run(ctx, r, Options{Worktree: filepath.Join(t.TempDir(), "wt"), Step: []string{"sh", "-c", "touch " + marker + "; exec sleep 60"}})
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("error %v, want interrupted", err)
	}
}
