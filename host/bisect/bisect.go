// Package bisect drives git bisect run over a kernel tree's history to
// find the first commit where a vmtest step fails. It checks the
// inputs, bisects in a git worktree of its own (the user's checkout is
// never touched), and reads git's verdicts back; what a step does (build
// and run the cases) is the caller's command.
package bisect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/vmtest/vmtest/internal/inputerr"
)

// Range is a checked bisection: a git kernel tree and two commits of it,
// good an ancestor of bad.
type Range struct {
	// Tree is the repository's top-level directory.
	Tree string `json:"tree"`
	// Good and Bad are full commit hashes.
	Good string `json:"good"`
	Bad  string `json:"bad"`
	// Commits is how many commits good..bad holds (bad included).
	Commits int `json:"commits"`
}

// kernelFiles are paths every kernel tree vmtest can build has; a commit
// without them is not a kernel.
var kernelFiles = []string{"Makefile", "Kconfig", "arch/x86/Kconfig", "kernel/pid.c"}

// Check resolves and checks a bisection's inputs without changing
// anything: tree is a git repository whose bad commit is a kernel tree,
// good and bad name commits, and good is a proper ancestor of bad. Its
// errors match inputerr.ErrBadInput and name the field (tree, good, bad).
func Check(ctx context.Context, tree, good, bad string) (*Range, error) {
	if tree == "" {
		return nil, inputerr.Errorf("tree", "", "is required: the git repository of the kernel tree to bisect")
	}
	if fi, err := os.Stat(tree); err != nil || !fi.IsDir() {
		return nil, inputerr.Errorf("tree", tree, "is not a directory")
	}
	top, err := git(ctx, tree, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, inputerr.Errorf("tree", tree, "is not a git repository (git init and commit the kernel tree's history, or name its clone)")
	}
	r := &Range{Tree: top}
	for _, e := range []struct {
		field, rev string
		p          *string
	}{{"good", good, &r.Good}, {"bad", bad, &r.Bad}} {
		if e.rev == "" {
			return nil, inputerr.Errorf(e.field, "", "is required: a commit of %s", top)
		}
		h, err := git(ctx, top, "rev-parse", "--verify", "--quiet", "--end-of-options", e.rev+"^{commit}")
		if err != nil {
			return nil, inputerr.Errorf(e.field, e.rev, "does not name a commit of %s", top)
		}
		*e.p = h
	}
	if r.Good == r.Bad {
		return nil, inputerr.Errorf("good", good, "is the same commit as --bad %s: nothing to bisect", bad)
	}
	st, err := gitStatus(ctx, top, "merge-base", "--is-ancestor", r.Good, r.Bad)
	if err != nil {
		return nil, fmt.Errorf("check the commits' order: %w", err)
	}
	if st != 0 {
		return nil, inputerr.Errorf("good", good, "is not an ancestor of --bad %s: the good commit must be older, on bad's history (swapped?)", bad)
	}
	for _, f := range kernelFiles {
		if st, err := gitStatus(ctx, top, "cat-file", "-e", r.Bad+":"+f); err != nil {
			return nil, fmt.Errorf("check the tree: %w", err)
		} else if st != 0 {
			return nil, inputerr.Errorf("tree", tree, "is not a Linux kernel tree: commit %s has no %s", bad, f)
		}
	}
	n, err := git(ctx, top, "rev-list", "--count", r.Good+".."+r.Bad)
	if err != nil {
		return nil, fmt.Errorf("count the commits: %w", err)
	}
	fmt.Sscan(n, &r.Commits)
	return r, nil
}

// Options say how to bisect a Range.
type Options struct {
	// Worktree is where the commits are checked out, a git worktree of
	// the range's tree made for the bisection and removed after it. It
	// stays the same path for every step, so that each build can start
	// from the objects of the one before.
	Worktree string
	// Step is the command git bisect run runs in the worktree for each
	// commit; its exit status is the verdict (0 good, 1-127 bad but 125
	// skip, above 127 abort).
	Step []string
	// Output receives git's output, the steps' standard output
	// included; nil discards it. The steps' standard error is Stderr's.
	Output, Stderr io.Writer
}

// Outcome is how a bisection ended.
type Outcome struct {
	// FirstBad is the first bad commit, "" when none was found.
	FirstBad string `json:"first_bad,omitempty"`
	Subject  string `json:"subject,omitempty"`
	// Candidates are the commits the first bad one may be when only
	// skipped commits were left.
	Candidates []string `json:"candidates,omitempty"`
	// Steps are the commits judged, in order, without the endpoints.
	Steps []Step `json:"steps"`
	// FirstBadRechecked is set when the first bad commit is the given
	// bad endpoint, which git never tests, and Run tested it after the
	// bisection; its verdict is the last step's.
	FirstBadRechecked bool `json:"first_bad_rechecked,omitempty"`
	// Seconds is the bisection's wall time.
	Seconds float64 `json:"seconds"`
}

// Run bisects r with git bisect run in a new worktree and returns what
// it found. The worktree and git's bisection state are removed however
// it ends. A bisection that ends without a first bad commit (a step
// aborted it, only skipped commits were left, the bad endpoint passed:
// ErrNoBadCommit) is an Outcome without FirstBad and an error saying why; a cancelled ctx stops the step
// running with SIGTERM.
func Run(ctx context.Context, r *Range, o Options) (*Outcome, error) {
	start := time.Now()
	if o.Output == nil {
		o.Output = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}
	if err := os.MkdirAll(filepath.Dir(o.Worktree), 0o755); err != nil {
		return nil, fmt.Errorf("make the worktree's directory: %w", err)
	}
	removeWorktree(r.Tree, o.Worktree) // one an earlier run left behind
	if _, err := git(ctx, r.Tree, "worktree", "add", "--detach", o.Worktree, r.Bad); err != nil {
		return nil, fmt.Errorf("check out %s in a worktree: %w", r.Bad, err)
	}
	defer removeWorktree(r.Tree, o.Worktree)
	if _, err := git(ctx, o.Worktree, "bisect", "start", r.Bad, r.Good); err != nil {
		return nil, fmt.Errorf("start the bisection: %w", err)
	}
	var out bytes.Buffer
	runErr := runStep(ctx, o, io.MultiWriter(&out, o.Output), append([]string{"git", "bisect", "run"}, o.Step...)...)
	log, logErr := git(context.WithoutCancel(ctx), o.Worktree, "bisect", "log")
	oc := &Outcome{}
	for _, s := range ParseLog(log) {
		if s.Commit != r.Good && s.Commit != r.Bad {
			oc.Steps = append(oc.Steps, s)
		}
	}
	oc.FirstBad, oc.Candidates = ParseOutcome(out.String())
	defer func() { oc.Seconds = time.Since(start).Seconds() }()
	switch {
	case ctx.Err() != nil:
		return oc, fmt.Errorf("bisection interrupted: %w", ctx.Err())
	case oc.FirstBad == "" && len(oc.Candidates) > 0:
		return oc, fmt.Errorf("every commit left to test was skipped (no build or no run); the first bad commit is one of %d", len(oc.Candidates))
	case oc.FirstBad == "" && runErr != nil:
		return oc, fmt.Errorf("git bisect run stopped without a first bad commit: %w", runErr)
	case oc.FirstBad == "" && logErr != nil:
		return oc, fmt.Errorf("read the bisection log: %w", logErr)
	case oc.FirstBad == "":
		return oc, errors.New("git bisect run named no first bad commit")
	}
	oc.Subject = Subject(ctx, r.Tree, oc.FirstBad)
	if oc.FirstBad == r.Bad && !slices.ContainsFunc(oc.Steps, func(s Step) bool { return s.Commit == r.Bad }) {
		// Every commit git tested was good, and it takes the bad
		// endpoint's word for it. Test it, so the verdict comes from
		// a run rather than from the command line.
		st, err := recheck(ctx, r, o)
		if err != nil {
			return oc, err
		}
		oc.FirstBadRechecked = true
		oc.Steps = append(oc.Steps, Step{Commit: r.Bad, Subject: oc.Subject, Verdict: st})
		switch st {
		case Good:
			oc.FirstBad, oc.Subject = "", ""
			return oc, ErrNoBadCommit
		case Skip:
			oc.FirstBad, oc.Subject = "", ""
			return oc, errors.New("every commit tested was good, and the bad commit itself cannot be tested (skip): no first bad commit")
		}
	}
	return oc, nil
}

// ErrNoBadCommit is Run's error when every commit, the bad endpoint
// included, passed: nothing in the range is bad.
var ErrNoBadCommit = errors.New("every commit tested passed, the bad endpoint too: no commit in the range is bad")

// recheck runs the step on the bad endpoint, after the bisection, and
// reads its exit status as git bisect run would.
func recheck(ctx context.Context, r *Range, o Options) (Verdict, error) {
	if _, err := git(ctx, o.Worktree, "bisect", "reset", r.Bad); err != nil {
		return "", fmt.Errorf("end the bisection: %w", err)
	}
	err := runStep(ctx, o, o.Output, o.Step...)
	ee, isExit := errors.AsType[*exec.ExitError](err)
	switch {
	case ctx.Err() != nil:
		return "", fmt.Errorf("re-check of the bad commit interrupted: %w", ctx.Err())
	case err == nil:
		return Good, nil
	case !isExit:
		return "", fmt.Errorf("re-check the bad commit: %w", err)
	}
	return StatusVerdict(ee.ExitCode())
}

// StatusVerdict is a step's exit status as git bisect run reads it; a
// status that aborts a bisection is an error.
func StatusVerdict(code int) (Verdict, error) {
	switch {
	case code == 0:
		return Good, nil
	case code == 125:
		return Skip, nil
	case code > 0 && code < 128:
		return Bad, nil
	}
	return "", fmt.Errorf("the step exited %d, which aborts a bisection", code)
}

// stepGrace is how long a cancelled step has between SIGTERM and SIGKILL:
// a vmtest step stops its build or VM and writes its result in that time.
const stepGrace = 15 * time.Second

// runStep runs a command in the worktree in a process group of its own,
// which a cancelled ctx sends SIGTERM as a whole (git and the step it
// runs), so the step ends its build or VM as vmtest does on Ctrl-C.
func runStep(ctx context.Context, o Options, stdout io.Writer, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = o.Worktree
	cmd.Stdout, cmd.Stderr = stdout, o.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = stepGrace
	return cmd.Run()
}

// removeWorktree removes a bisection's worktree, its bisection state
// with it; it is best effort, as what it removes may not exist.
func removeWorktree(tree, wt string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	git(ctx, wt, "bisect", "reset")
	git(ctx, tree, "worktree", "remove", "--force", wt)
	os.RemoveAll(wt)
	git(ctx, tree, "worktree", "prune")
}
