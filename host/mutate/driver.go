package mutate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Outcome is what became of one mutant.
type Outcome string

// The outcomes. Only Killed and Survived count towards the score; an
// Error run says nothing about the mutant and is listed apart.
const (
	Stillborn  Outcome = "stillborn"  // does not compile or link
	Equivalent Outcome = "equivalent" // same object code as the original
	Duplicate  Outcome = "duplicate"  // same object code as an earlier mutant
	Killed     Outcome = "killed"     // some case failed, or the kernel crashed or hung
	Survived   Outcome = "survived"   // every case passed
	Error      Outcome = "error"      // the build or VM failed for reasons of its own
)

// Result is one mutant with its outcome.
type Result struct {
	Mutant
	Outcome Outcome `json:"outcome"`
	// Detail is the compiler's first error, the run status, or the
	// mutant a duplicate folds into.
	Detail string `json:"detail,omitempty"`
	// DuplicateOf names the earlier mutant with the same object code.
	DuplicateOf string `json:"duplicate_of,omitempty"`
	// Killers are the cases that failed (at least the first one).
	Killers []string `json:"killers,omitempty"`
	// Explanation, for a survivor, is why it is equivalent in behaviour
	// (from --explain; see Explain). It does not change the outcome.
	Explanation string `json:"explanation,omitempty"`
	// RunStatus is host/run's status of the VM (completed, crashed ...).
	RunStatus   string  `json:"run_status,omitempty"`
	ResultDir   string  `json:"result_dir,omitempty"`
	ObjectSHA   string  `json:"object_digest,omitempty"`
	BuildSecond float64 `json:"build_seconds,omitempty"`
	RunSeconds  float64 `json:"run_seconds,omitempty"`
	// CasesRun counts the cases the mutant's VM ran.
	CasesRun int `json:"cases_run,omitempty"`
}

// CompileError is a mutant that does not build: First is the compiler's
// first error line.
type CompileError struct {
	Target string
	First  string
	Err    error
}

// Error names the target and the compiler's complaint.
func (e *CompileError) Error() string {
	return fmt.Sprintf("make %s: %v: %s", e.Target, e.Err, e.First)
}

// Unwrap returns the make error.
func (e *CompileError) Unwrap() error { return e.Err }

// Builder edits and builds one kernel tree. It is used by one goroutine
// at a time.
type Builder interface {
	// ReadFile and WriteFile read and replace a source file (path
	// relative to the tree); WriteFile must not write through a hard
	// link into another tree.
	ReadFile(rel string) ([]byte, error)
	WriteFile(rel string, data []byte) error
	// Object builds the object of a source file and returns its path; a
	// compile failure is a *CompileError.
	Object(ctx context.Context, srcRel string) (string, error)
	// Kernel builds the kernel incrementally and copies what boots it
	// into the new directory dir, returning the path to boot; a failure
	// to link the mutant is a *CompileError.
	Kernel(ctx context.Context, dir string) (string, error)
}

// Runner boots a kernel and runs the matrix on it.
type Runner interface {
	Run(ctx context.Context, kernel, outDir string) (*RunOutcome, error)
}

// RunOutcome is what a run says about a kernel.
type RunOutcome struct {
	// Status is host/run's run status; Completed is "completed".
	Status string
	// Failed are the cases that failed or errored, in run order.
	Failed []string
	// Infra is set when the run failed for reasons that do not reflect on
	// the kernel (QEMU did not start).
	Infra  bool
	Detail string
	Dir    string
	// Ran counts the cases the VM ran (not those a stop or a crash left
	// out).
	Ran int
}

// Options configure Run.
type Options struct {
	Builder Builder
	Runner  Runner
	// Out receives the kernels (deleted after their run) and the run
	// directories, one per mutant.
	Out      string
	Progress io.Writer
}

type job struct {
	idx    int
	kernel string // the image to boot, inside dir
	dir    string // the mutant's kernel directory, removed after its run
}

// Run decides every mutant's outcome. Each mutant is written into the
// tree, its object built and compared with the original's, and if it
// differs the kernel is built and booted; the original file is put back
// after every mutant and whatever happens. The build of mutant N+1 runs
// while mutant N's VM does.
func Run(ctx context.Context, mutants []Mutant, o Options) ([]Result, error) {
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	b := o.Builder
	originals := map[string][]byte{}
	origDigest := map[string]string{}
	for _, m := range mutants {
		if _, ok := originals[m.File]; ok {
			continue
		}
		data, err := b.ReadFile(m.File)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", m.File, err)
		}
		originals[m.File] = data
	}
	restore := func(file string) error {
		if err := b.WriteFile(file, originals[file]); err != nil {
			return fmt.Errorf("restore %s (the scratch tree now holds a mutant of it): %w", file, err)
		}
		return nil
	}
	for file := range originals {
		obj, err := b.Object(ctx, file)
		if err != nil {
			return nil, fmt.Errorf("build the unmutated %s: %w", file, err)
		}
		if origDigest[file], err = CodeDigest(obj); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(filepath.Join(o.Out, "kernels"), 0o755); err != nil {
		return nil, err
	}
	results := make([]Result, len(mutants))
	for i, m := range mutants {
		results[i].Mutant = m
	}
	jobs := make(chan job)
	runDone := make(chan error, 1)
	go func() {
		var firstErr error
		for j := range jobs {
			if firstErr != nil || ctx.Err() != nil {
				os.RemoveAll(j.dir)
				continue
			}
			r := &results[j.idx]
			start := time.Now()
			dir := filepath.Join(o.Out, "runs", safeName(r.ID))
			os.RemoveAll(dir) // an earlier invocation's run of the same mutant
			out, err := o.Runner.Run(ctx, j.kernel, dir)
			os.RemoveAll(j.dir)
			r.RunSeconds = time.Since(start).Seconds()
			if err != nil {
				if ctx.Err() != nil {
					firstErr = ctx.Err()
					continue
				}
				r.Outcome, r.Detail = Error, err.Error()
			} else {
				classify(r, out)
			}
			fmt.Fprintf(progress, "%s: %s%s\n", r.ID, r.Outcome, suffix(r.Detail))
		}
		runDone <- firstErr
	}()

	buildErr := func() error {
		defer close(jobs)
		seenObj := map[string]string{}
		for i := range results {
			r := &results[i]
			if err := ctx.Err(); err != nil {
				return err
			}
			start := time.Now()
			kdir := filepath.Join(o.Out, "kernels", safeName(r.ID))
			kernel, err := buildOne(ctx, b, r, originals[r.File], origDigest[r.File], seenObj, kdir)
			if rerr := restore(r.File); rerr != nil {
				return rerr
			}
			r.BuildSecond = time.Since(start).Seconds()
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				return err
			}
			if r.Outcome != "" {
				fmt.Fprintf(progress, "%s: %s%s\n", r.ID, r.Outcome, suffix(r.Detail))
				continue
			}
			select {
			case jobs <- job{i, kernel, kdir}:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}()
	runErr := <-runDone
	// Folded mutants share the outcome of the one they fold into.
	byID := map[string]*Result{}
	for i := range results {
		byID[results[i].ID] = &results[i]
	}
	for i := range results {
		r := &results[i]
		if r.Outcome == Duplicate {
			if d := byID[r.DuplicateOf]; d != nil {
				r.Killers, r.RunStatus = d.Killers, d.RunStatus
				r.Detail = fmt.Sprintf("same object code as %s (%s)", d.ID, d.Outcome)
			}
		}
	}
	if buildErr != nil {
		return results, buildErr
	}
	return results, runErr
}

// buildOne writes the mutant, builds its object and, unless it is
// stillborn, equivalent or a duplicate (r.Outcome set), the kernel in
// kdir, whose path to boot it returns. An error is returned only when the
// build machinery itself failed.
func buildOne(ctx context.Context, b Builder, r *Result, src []byte, orig string, seenObj map[string]string, kdir string) (string, error) {
	if err := b.WriteFile(r.File, r.Apply(src)); err != nil {
		return "", fmt.Errorf("write mutant %s: %w", r.ID, err)
	}
	obj, err := b.Object(ctx, r.File)
	var ce *CompileError
	if errors.As(err, &ce) {
		r.Outcome, r.Detail = Stillborn, ce.First
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("build mutant %s: %w", r.ID, err)
	}
	if r.ObjectSHA, err = CodeDigest(obj); err != nil {
		return "", err
	}
	if r.ObjectSHA == orig {
		r.Outcome, r.Detail = Equivalent, "object code identical to the original's"
		return "", nil
	}
	if first, ok := seenObj[r.ObjectSHA]; ok {
		r.Outcome, r.DuplicateOf = Duplicate, first
		return "", nil
	}
	seenObj[r.ObjectSHA] = r.ID
	kernel, err := b.Kernel(ctx, kdir)
	if err != nil {
		if errors.As(err, &ce) {
			r.Outcome, r.Detail = Stillborn, "kernel does not link: "+ce.First
			return "", nil
		}
		return "", fmt.Errorf("build kernel for mutant %s: %w", r.ID, err)
	}
	return kernel, nil
}

// classify turns a run into Killed, Survived or Error: a crashed or hung
// kernel is killed (the tests noticed), a run that could not start is
// an error.
func classify(r *Result, out *RunOutcome) {
	r.RunStatus, r.ResultDir, r.CasesRun = out.Status, out.Dir, out.Ran
	switch {
	case out.Infra:
		r.Outcome, r.Detail = Error, out.Detail
	case len(out.Failed) > 0:
		r.Outcome, r.Killers = Killed, out.Failed
		r.Detail = out.Detail
	case out.Status != "completed":
		r.Outcome, r.Detail = Killed, fmt.Sprintf("run %s: %s", out.Status, out.Detail)
		r.Killers = []string{"(" + out.Status + ")"}
	default:
		r.Outcome = Survived
	}
}

func suffix(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}

// safeName makes a mutant ID usable as a file name.
func safeName(id string) string {
	return strings.NewReplacer("/", "_", ":", "_", "@", "_", "#", "_").Replace(id)
}
