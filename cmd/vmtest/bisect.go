package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/configs"
	"github.com/vmtest/vmtest/host/bisect"
	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/report"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/atomicfile"
	"github.com/vmtest/vmtest/internal/inputerr"
	"github.com/vmtest/vmtest/internal/result"
)

// bisectStepCmd is the hidden command git bisect run runs for each
// commit: vmtest run of the checked-out tree with --exit-mode bisect.
const bisectStepCmd = "bisect-step"

// BisectFile is the bisection's record in its --out directory.
const BisectFile = "bisect.json"

// stepsDir holds one result directory per judged commit, named by hash.
const stepsDir = "steps"

// bisectReport is bisect.json.
type bisectReport struct {
	bisect.Range
	Cases  []string `json:"case_patterns,omitempty"`
	Kernel string   `json:"kernel_spec"`
	*bisect.Outcome
	// FirstBadDir is the first bad commit's result directory, "" when
	// none was found or its step wrote none.
	FirstBadDir string `json:"first_bad_result_dir,omitempty"`
	// FirstBadFailed are the cases that failed at the first bad commit.
	FirstBadFailed []string `json:"first_bad_failed,omitempty"`
}

// ownBisectFlags are vmtest bisect's own flags; every other flag it
// takes is a run flag, passed on to each step.
var ownBisectFlags = map[string]bool{"tree": true, "good": true, "bad": true, "base": true, "config": true, "patch": true, "out": true, "force": true, "json": true}

func cmdBisect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if args[0] == bisectStepCmd {
		return cmdBisectStep(ctx, args[1:], stdout, stderr)
	}
	args = args[1:]
	fs := flag.NewFlagSet("vmtest bisect", flag.ContinueOnError)
	rf := addRunFlags(fs)
	var sp kbuild.Spec
	var cfgs []string
	tree := fs.String("tree", "", "git repository of the kernel tree to bisect (its checkout is left alone: the bisection checks commits out in a worktree of its own)")
	good := fs.String("good", "", "a commit where the selected cases pass")
	bad := fs.String("bad", "", "a later commit, descending from --good, where a selected case fails")
	fs.StringVar(&sp.Base, "base", "", "base config of every build: tinyconfig (default), defconfig, allnoconfig, or a .config file")
	fs.Var(listFlag{&cfgs, false}, "config", "config fragment of every build: a file or a built-in name ("+strings.Join(configs.Names(), ", ")+"; default minimal); repeatable")
	fs.Var(listFlag{&sp.Patches, false}, "patch", "patch applied on every commit before it is built (a test, say); repeatable")
	out := fs.String("out", "", "bisection directory (default results/bisect-<time>): "+BisectFile+" and "+stepsDir+"/<commit>, one result directory per commit tested")
	force := fs.Bool("force", false, "replace the earlier bisection --out names")
	jsonOut := fs.Bool("json", false, "print "+BisectFile+" instead of the table")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	const who = "vmtest bisect"
	if rf.exitMode != modeDefault {
		return reportErr(stderr, who, inputerr.Errorf("exit mode", string(rf.exitMode), "is for run and compare; vmtest bisect runs every step with --exit-mode bisect itself"))
	}
	o := rf.options()
	if err := o.Check(); err != nil {
		return reportErr(stderr, who, err)
	}
	if err := rf.checkReports(); err != nil {
		return reportErr(stderr, who, err)
	}
	spec, err := stepSpec(sp, cfgs)
	if err != nil {
		return reportErr(stderr, who, err)
	}
	r, err := bisect.Check(ctx, *tree, *good, *bad)
	if err != nil {
		return reportErr(stderr, who, err)
	}
	if *out == "" {
		*out = run.DefaultOut("bisect")
	}
	if err := checkBisectOut(*out, *force); err != nil {
		return reportErr(stderr, who, err)
	}
	dir, err := filepath.Abs(*out)
	if err != nil {
		return reportErr(stderr, who, fmt.Errorf("resolve --out: %w", err))
	}
	self, err := os.Executable()
	if err != nil {
		return reportErr(stderr, who, fmt.Errorf("find vmtest's own binary for the steps: %w", err))
	}
	cache := o.CacheDir
	if cache == "" {
		cache = run.DefaultCacheDir()
	}
	wt, unlock, err := bisectWorktree(cache, r.Tree)
	if err != nil {
		return reportErr(stderr, who, err)
	}
	defer unlock()
	if err := os.MkdirAll(filepath.Join(dir, stepsDir), 0o755); err != nil {
		return reportErr(stderr, who, fmt.Errorf("make the bisection directory: %w", err))
	}
	step := append([]string{self, bisectStepCmd, "--steps", filepath.Join(dir, stepsDir), "--kernel", strings.Replace(spec, "tree=", "tree="+wt, 1)}, forwardFlags(fs, args)...)
	fmt.Fprintf(stderr, "vmtest bisect: %d commits after %.12s up to %.12s; each step builds its commit in %s\n", r.Commits, r.Good, r.Bad, wt)
	oc, runErr := bisect.Run(ctx, r, bisect.Options{Worktree: wt, Step: step, Output: stderr, Stderr: stderr})
	rep := bisectReport{Range: *r, Cases: o.Cases, Kernel: spec, Outcome: oc}
	if oc != nil {
		for i := range oc.Steps {
			if d := filepath.Join(dir, stepsDir, oc.Steps[i].Commit); isDir(d) {
				oc.Steps[i].ResultDir = d
			}
		}
	}
	var firstBad *run.Result
	if oc != nil && oc.FirstBad != "" {
		if d := filepath.Join(dir, stepsDir, oc.FirstBad); isDir(d) {
			rep.FirstBadDir = d
			if res, err := run.Load(d); err == nil {
				firstBad = res
				for _, c := range res.Cases {
					if c.Outcome.Failed() {
						rep.FirstBadFailed = append(rep.FirstBadFailed, c.ID)
					}
				}
			}
		}
	}
	if oc != nil {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := atomicfile.WriteFile(filepath.Join(dir, BisectFile), append(b, '\n'), 0o644); err != nil {
			return reportErr(stderr, who, fmt.Errorf("write %s: %w", BisectFile, err))
		}
	}
	if runErr != nil {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "%s: %v\n", who, runErr)
			return exitInterrupted
		}
		if errors.Is(runErr, bisect.ErrNoBadCommit) {
			fmt.Fprintf(stderr, "%s: %v\n", who, runErr)
			return exitFailed
		}
		if oc != nil {
			for _, c := range oc.Candidates {
				fmt.Fprintf(stderr, "  candidate: %s %s\n", c, bisect.Subject(ctx, r.Tree, c))
			}
		}
		return reportErr(stderr, who, runErr)
	}
	if *jsonOut {
		printJSON(stdout, rep)
	} else {
		printBisect(stdout, &rep, firstBad)
	}
	fmt.Fprintf(stderr, "bisection: %s (%s, %s/<commit>) in %.0fs\n", dir, BisectFile, stepsDir, oc.Seconds)
	return exitOK
}

// printBisect prints the first bad commit, its failing cases' verdict
// table and the steps.
func printBisect(w io.Writer, rep *bisectReport, firstBad *run.Result) {
	fmt.Fprintf(w, "first bad commit: %s %s\n", rep.FirstBad, rep.Subject)
	if firstBad != nil {
		var failed []result.Case
		for _, c := range firstBad.Cases {
			if c.Outcome.Failed() {
				failed = append(failed, c)
			}
		}
		if firstBad.Infra() {
			fmt.Fprintf(w, "its run: %s: %s\n", firstBad.Status, firstBad.StatusDetail)
		}
		report.Cases(w, failed)
		fmt.Fprintf(w, "%d of %d cases failed at %.12s\n", len(failed), len(firstBad.Cases), rep.FirstBad)
	}
	fmt.Fprintln(w, "steps:")
	for _, s := range rep.Steps {
		fmt.Fprintf(w, "  %-4s %.12s %s\n", s.Verdict, s.Commit, s.Subject)
	}
}

// stepSpec is the build spec of every step, "build:tree=" first (the
// worktree's path is put after it), with the fragments and patches
// checked and made absolute (the steps run in the worktree).
func stepSpec(sp kbuild.Spec, cfgs []string) (string, error) {
	if _, err := run.BuildRef(sp, cfgs); err != nil {
		return "", err
	}
	parts := []string{kbuild.SpecPrefix + ":tree="}
	abs := func(p string) string {
		if _, err := os.Stat(p); err == nil {
			if a, err := filepath.Abs(p); err == nil {
				return a
			}
		}
		return p // a built-in fragment or config target
	}
	if sp.Base != "" {
		parts = append(parts, "base="+abs(sp.Base))
	}
	for _, c := range cfgs {
		parts = append(parts, "config="+abs(c))
	}
	for _, p := range sp.Patches {
		parts = append(parts, "patch="+abs(p))
	}
	for _, p := range parts[1:] {
		if strings.Count(p, ",") > 0 {
			return "", inputerr.Errorf("config", p, "has a comma, which a build spec cannot hold; rename the file")
		}
	}
	return strings.Join(parts, ","), nil
}

// forwardFlags are the run flags args sets on fs, as given, spelled for
// a step's command line; a repeated flag is repeated. args is parsed
// again with a recorder in place of each flag's value, since a flag's
// String does not always give back what was set (fs.Func's is "").
func forwardFlags(fs *flag.FlagSet, args []string) []string {
	var out []string
	rec := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
	rec.SetOutput(io.Discard)
	fs.VisitAll(func(f *flag.Flag) {
		rec.Var(recorder{f: f, out: &out}, f.Name, "")
	})
	rec.Parse(args) // fs parsed them already
	return out
}

// recorder records each value a run flag is set to as --name=value.
type recorder struct {
	f   *flag.Flag
	out *[]string
}

func (r recorder) String() string { return "" }

func (r recorder) Set(v string) error {
	if !ownBisectFlags[r.f.Name] {
		*r.out = append(*r.out, "--"+r.f.Name+"="+v)
	}
	return nil
}

// IsBoolFlag makes a boolean flag's recorder one too, so that
// --verbose-console takes no value.
func (r recorder) IsBoolFlag() bool {
	b, ok := r.f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// checkBisectOut refuses an --out that is neither new, empty, nor (with
// --force) an earlier bisection, which it then removes.
func checkBisectOut(out string, force bool) error {
	ents, err := os.ReadDir(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return inputerr.Errorf("out", out, "is not a directory vmtest can write")
	case len(ents) == 0:
		return nil
	case !isFile(filepath.Join(out, BisectFile)):
		return inputerr.Errorf("out", out, "is a directory that is not a vmtest bisection; vmtest does not replace it")
	case !force:
		return inputerr.Errorf("out", out, "holds an earlier bisection (pass --force to replace it)")
	}
	if err := os.RemoveAll(out); err != nil {
		return fmt.Errorf("remove the earlier bisection: %w", err)
	}
	return nil
}

// bisectWorktree is the worktree path of a tree's bisections, one per
// tree in the cache so that a later bisection's builds seed from an
// earlier one's, and a lock that keeps two bisections of the tree from
// sharing it.
func bisectWorktree(cache, tree string) (string, func(), error) {
	sum := sha256.Sum256([]byte(tree))
	base := filepath.Join(cache, "bisect", hex.EncodeToString(sum[:])[:16])
	if err := os.MkdirAll(filepath.Dir(base), 0o755); err != nil {
		return "", nil, fmt.Errorf("make the bisection worktree's directory: %w", err)
	}
	f, err := os.OpenFile(base+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", nil, fmt.Errorf("lock the bisection worktree: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return "", nil, fmt.Errorf("another vmtest bisect of %s is running (lock %s.lock): %w", tree, base, err)
	}
	return base, func() { f.Close() }, nil
}

// cmdBisectStep is one step of a bisection, run by git bisect run in
// the worktree: vmtest run of the commit checked out, its result under
// --steps/<commit>, its status in git bisect run's convention.
func cmdBisectStep(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "--steps" {
		fmt.Fprintf(stderr, "vmtest %s: internal command of vmtest bisect (want --steps DIR RUN-FLAGS...)\n", bisectStepCmd)
		return bisectAbort
	}
	commit, err := bisect.Head(ctx, ".")
	if err != nil {
		fmt.Fprintf(stderr, "vmtest %s: %v\n", bisectStepCmd, err)
		return bisectAbort
	}
	fmt.Fprintf(stderr, "vmtest bisect: testing %.12s %s\n", commit, bisect.Subject(ctx, ".", commit))
	runArgs := append(args[2:], "--out", filepath.Join(args[1], commit), "--force", "--exit-mode", string(modeBisect))
	code := cmdRun(ctx, runArgs, stdout, stderr)
	if code == bisectAbort {
		// vmtest bisect checked every input before it started, so bad
		// input now is this commit's: a --patch that does not apply to
		// it, say. That makes the commit untestable, not the bisection
		// wrong.
		fmt.Fprintf(stderr, "vmtest bisect: %.12s cannot take the bisection's inputs: skip it (exit %d)\n", commit, bisectSkip)
		return bisectSkip
	}
	return code
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
