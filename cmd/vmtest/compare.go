package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vmtest/vmtest/host/compare"
	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/result"
)

// side is one kernel of a comparison as given on the command line.
type side struct {
	label string // "base" or "patched"
	ref   *run.KernelRef

	kernel   string // bzImage path (given, downloaded or built)
	manifest *kbuild.Manifest
	res      *run.Result
	err      error
}

// prefixWriter prefixes each line, so two VMs' progress can share stderr.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
	}
}

// Comparison is comparison.json.
type Comparison struct {
	Base        sideJSON                `json:"base"`
	Patched     sideJSON                `json:"patched"`
	Summary     map[compare.Verdict]int `json:"summary"`
	Regressions []string                `json:"regressions"`
	// Flaky lists the cases that regressed at first and gave another
	// answer when re-run; Confirm is how many re-run rounds there were.
	Flaky   []string       `json:"flaky"`
	Confirm int            `json:"confirm_rounds"`
	Cases   []compare.Case `json:"cases"`
}

type sideJSON struct {
	Source string           `json:"source"`
	Kind   string           `json:"kind"` // bzimage, debian, build, result
	Build  *kbuild.Manifest `json:"build,omitempty"`
	Result *run.Result      `json:"result"`
}

func cmdCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest compare", flag.ContinueOnError)
	baseArg := fs.String("base", "", "base (unpatched) kernel: a bzImage, debian, a build spec (build[:tree=DIR,config=FRAG,patch=FILE,...]) or an earlier result directory")
	patchedArg := fs.String("kernel", "", "patched kernel: a bzImage, debian, a build spec or an earlier result directory")
	out := fs.String("out", "", "comparison directory (default results/compare-<time>); an existing one must be an earlier vmtest result, replaced only with --force")
	force := fs.Bool("force", false, "replace the earlier vmtest result --out names")
	accel := fs.String("accel", "auto", "auto, kvm or tcg")
	var cases caseFlag
	fs.Var(&cases, "case", "run only cases whose ID matches this glob (repeatable)")
	qemuBin := fs.String("qemu", "", "QEMU binary (default qemu-system-x86_64 from PATH)")
	cache := fs.String("cache", "", "cache directory (default ~/.cache/vmtest)")
	jobs := 0
	fs.Var(countFlag{&jobs, 1}, "j", "`N` parallel make jobs for build specs (default: number of CPUs)")
	confirm := 1
	fs.Var(countFlag{&confirm, 0}, "confirm", "re-run every case that regressed `N` times in fresh VMs on both kernels; one whose answers disagree is flaky, not a regression (0: no re-runs)")
	jsonOut := fs.Bool("json", false, "print comparison.json instead of the table")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	opts := run.Options{Accel: *accel, Cases: cases, QEMU: *qemuBin, CacheDir: *cache, Agent: agentBinary}
	// Every flag and both sides are checked before anything is built or
	// booted: a corrupt base result must not cost the patched kernel's run.
	if err := opts.Check(); err != nil {
		return reportErr(stderr, "vmtest compare", err)
	}
	if err := run.CheckOut(*out, *force); err != nil {
		return reportErr(stderr, "vmtest compare", err)
	}
	var sides []*side
	for _, a := range [][3]string{{"base", "--base", *baseArg}, {"patched", "--kernel", *patchedArg}} {
		ref, err := run.ParseKernel(a[1], a[2], true)
		if err != nil {
			return reportErr(stderr, "vmtest compare", err)
		}
		sides = append(sides, &side{label: a[0], ref: ref, res: ref.Result})
	}
	// Downloads and builds run one after the other: each build already
	// uses every CPU.
	for _, s := range sides {
		if !s.ref.Bootable() {
			continue
		}
		k, m, err := s.ref.Obtain(ctx, run.ObtainOptions{CacheDir: *cache, Jobs: jobs, Progress: func(l string) { fmt.Fprintf(stderr, "%s build: %s\n", s.label, l) }})
		if err != nil {
			return obtainErr(ctx, stderr, "vmtest compare: "+s.label, err)
		}
		s.kernel, s.manifest = k, m
		if m != nil && m.Cached {
			fmt.Fprintf(stderr, "%s build: cached %s\n", s.label, m.BzImage)
		}
		o := opts
		o.Kernel = k
		if _, err := run.Prepare(o); err != nil {
			return reportErr(stderr, "vmtest compare: "+s.label, err)
		}
	}

	outDir := *out
	if outDir == "" {
		outDir = filepath.Join("results", "compare-"+time.Now().UTC().Format("20060102-150405"))
	}
	outDir, _ = filepath.Abs(outDir)
	if err := os.MkdirAll(filepath.Dir(outDir), 0o755); err != nil {
		fmt.Fprintf(stderr, "vmtest compare: create %s: %v\n", filepath.Dir(outDir), err)
		return exitInfra
	}
	stage, err := run.MkdirTemp(filepath.Dir(outDir), "."+filepath.Base(outDir)+".partial-")
	if err != nil {
		fmt.Fprintf(stderr, "vmtest compare: create the comparison directory: %v\n", err)
		return exitInfra
	}
	defer os.RemoveAll(stage) // a no-op once renamed

	if err := runSides(ctx, sides, opts, nil, stage, outDir, "", stderr); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "vmtest compare: interrupted before the VMs started")
			return exitInterrupted
		}
		return reportErr(stderr, "vmtest compare", err)
	}
	base, patched := sides[0], sides[1]
	cs := compare.Cases(base.res.Cases, patched.res.Cases)
	// Confirm what looks like a regression before calling it one. Not
	// when a run already failed as a whole or was interrupted: that is
	// reported as such.
	var rounds []compare.Rerun
	confirmFailed := "" // a confirmation VM that failed as a whole
	if ids := rerunnable(compare.Regressions(cs)); len(ids) > 0 && confirm > 0 && !infra(sides) && ctx.Err() == nil {
		fmt.Fprintf(stderr, "confirming %d regressed case(s) in fresh VMs, %d time(s): %s\n", len(ids), confirm, strings.Join(ids, ", "))
		for i := 1; i <= confirm && ctx.Err() == nil && confirmFailed == ""; i++ {
			round := make([]*side, len(sides))
			for j, s := range sides {
				c := *s
				round[j] = &c
			}
			name := fmt.Sprintf("confirm-%d", i)
			if err := runSides(ctx, round, opts, ids, filepath.Join(stage, name), filepath.Join(outDir, name), fmt.Sprintf("[%s] ", name), stderr); err != nil {
				if ctx.Err() != nil {
					break // the first comparison is written below
				}
				return reportErr(stderr, "vmtest compare", err)
			}
			var r compare.Rerun
			for j, s := range round {
				if !s.ref.Bootable() {
					continue
				}
				if s.res.Infra() && ctx.Err() == nil {
					confirmFailed = fmt.Sprintf("%s %s run: %s: %s", name, s.label, s.res.Status, s.res.StatusDetail)
				}
				m := map[string]result.Outcome{}
				for _, c := range s.res.Cases {
					m[c.ID] = c.Outcome
				}
				if j == 0 {
					r.Base = m
				} else {
					r.Patched = m
				}
			}
			if ctx.Err() == nil && confirmFailed == "" {
				rounds = append(rounds, r)
			}
		}
		cs = compare.Confirm(cs, rounds)
	}
	cmp := Comparison{
		Base: sideJSONOf(base), Patched: sideJSONOf(patched),
		Summary: compare.Count(cs), Regressions: compare.Regressions(cs), Flaky: ofVerdict(cs, compare.Flaky),
		Confirm: len(rounds), Cases: cs,
	}
	if cmp.Regressions == nil {
		cmp.Regressions = []string{}
	}
	js, _ := json.MarshalIndent(cmp, "", "  ")
	var md bytes.Buffer
	compare.Markdown(&md, mdSide(base), mdSide(patched), cs)
	// Nothing half-written is moved into place: the stage is removed on
	// any error.
	err = errors.Join(
		os.WriteFile(filepath.Join(stage, "comparison.json"), append(js, '\n'), 0o644),
		os.WriteFile(filepath.Join(stage, "comparison.md"), md.Bytes(), 0o644))
	if err != nil {
		fmt.Fprintf(stderr, "vmtest compare: write the comparison: %v\n", err)
		return exitInfra
	}
	if _, err := os.Stat(outDir); err == nil {
		os.RemoveAll(outDir) // CheckOut allowed it: empty, or --force
	}
	if err := os.Rename(stage, outDir); err != nil {
		fmt.Fprintf(stderr, "vmtest compare: write %s: %v\n", outDir, err)
		return exitInfra
	}
	if *jsonOut {
		stdout.Write(append(js, '\n'))
	} else {
		compare.Table(stdout, cs)
		fmt.Fprintln(stdout, compare.SummaryLine(cs))
	}
	fmt.Fprintf(stderr, "comparison: %s (comparison.json, comparison.md)\n", outDir)
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "vmtest compare: interrupted; the comparison holds the cases that ran")
		return exitInterrupted
	}
	if confirmFailed != "" {
		// The regressions stand unconfirmed; the comparison says so
		// (confirm_rounds) and the exit status calls it infrastructure.
		fmt.Fprintf(stderr, "vmtest compare: %s\n", confirmFailed)
		return exitInfra
	}
	for _, s := range sides {
		if s.res.Infra() {
			fmt.Fprintf(stderr, "vmtest compare: %s run: %s: %s\n", s.label, s.res.Status, s.res.StatusDetail)
			if s.res.Crash != "" {
				fmt.Fprintf(stderr, "--- %s console excerpt ---\n%s\n---\n", s.label, s.res.Crash)
			}
			return exitInfra
		}
	}
	if len(cmp.Flaky) > 0 {
		fmt.Fprintf(stderr, "vmtest compare: %d flaky (not regressions): %s\n", len(cmp.Flaky), strings.Join(cmp.Flaky, ", "))
	}
	if len(cmp.Regressions) > 0 {
		fmt.Fprintf(stderr, "vmtest compare: %d regressed: %s\n", len(cmp.Regressions), strings.Join(cmp.Regressions, ", "))
		return exitFailed
	}
	return exitOK
}

// runSides boots every bootable side at once, each into dir/<label>
// (final/<label> once dir is renamed), with only the given case IDs when
// ids is set. Under TCG each VM keeps one host CPU busy and the results are
// independent, so they run in parallel.
func runSides(ctx context.Context, sides []*side, opts run.Options, ids []string, dir, final, prefix string, stderr io.Writer) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range sides {
		if !s.ref.Bootable() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := opts
			if ids != nil {
				o.Cases = ids
			}
			o.Kernel, o.Out, o.FinalDir = s.kernel, filepath.Join(dir, s.label), filepath.Join(final, s.label)
			o.Progress = &prefixWriter{mu: &mu, w: stderr, prefix: fmt.Sprintf("%s%-8s", prefix, s.label+":")}
			s.res, s.err = bootKernel(ctx, o)
		}()
	}
	wg.Wait()
	var errs []error
	for _, s := range sides {
		if s.err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.label, s.err))
		}
	}
	return errors.Join(errs...)
}

// bootKernel prepares and runs one VM. Tests replace it to script the
// runs a comparison gets (a flake, say) without booting.
var bootKernel = func(ctx context.Context, o run.Options) (*run.Result, error) {
	p, err := run.Prepare(o)
	if err != nil {
		return nil, err
	}
	return p.Run(ctx)
}

// agentBinary is the guest agent for every VM; "" is this executable.
// Tests, whose binary is not static, set it to a built vmtest.
var agentBinary = ""

// rerunnable keeps the IDs the matrix still has: a case only an earlier
// result directory knows cannot be run again.
func rerunnable(ids []string) []string {
	var out []string
	for _, id := range ids {
		if _, ok := catalog.Lookup(id); ok {
			out = append(out, id)
		}
	}
	return out
}

func infra(sides []*side) bool {
	for _, s := range sides {
		if s.res.Infra() {
			return true
		}
	}
	return false
}

func ofVerdict(cs []compare.Case, v compare.Verdict) []string {
	ids := []string{}
	for _, c := range cs {
		if c.Verdict == v {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

func sideJSONOf(s *side) sideJSON {
	return sideJSON{Source: s.ref.Arg, Build: s.manifest, Result: s.res, Kind: string(s.ref.Kind)}
}

func mdSide(s *side) compare.Side {
	return compare.Side{Label: s.label, Kernel: s.res.Kernel.Release, Source: s.ref.Arg, Accel: s.res.Accel, Summary: s.res.Summary}
}
