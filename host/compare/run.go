package compare

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/inputerr"
	"github.com/vmtest/vmtest/internal/result"
)

// Options configure a comparison.
type Options struct {
	// Run configures every VM, as for `vmtest run`. Kernel, Out and
	// Progress are each side's own, set by Run; the confirmation rounds
	// replace Cases with the regressed cases.
	Run run.Options
	// Out is the comparison directory (default results/compare-<time>).
	// An existing one must be an earlier vmtest result, replaced only with
	// Force (run.CheckOut).
	Out   string
	Force bool
	// Jobs is make's parallelism for build specs (0: one job per CPU).
	Jobs int
	// Confirm is how many times every case that regressed is re-run in
	// fresh VMs on both kernels; one whose answers disagree is flaky, not a
	// regression (0: no re-runs).
	Confirm int
	// Progress receives the builds' and the VMs' progress, one line at a
	// time, each prefixed with its side; nil discards.
	Progress io.Writer
	// Report, when set, writes further files (the CI formats) into the
	// staged comparison directory, from the comparison it holds; each
	// side's directory gets Run.Reporter's.
	Report func(dir string, c *Comparison) error

	// boot runs one VM; nil is bootVM. Tests script the VMs with it.
	boot func(context.Context, *vm) (*run.Result, error)
}

// Report is what Run wrote.
type Report struct {
	// Comparison is comparison.json.
	Comparison *Comparison
	// Dir is the comparison directory, complete.
	Dir string
	// Unconfirmed names the confirmation VM that failed as a whole, if one
	// did: the regressions stand unconfirmed (Comparison.Confirm says how
	// many rounds completed), and the comparison is an infrastructure
	// failure.
	Unconfirmed string
}

// side is one kernel of the comparison.
type side struct {
	label    string // "base" or "patched"
	ref      *run.KernelRef
	kernel   string // the bzImage, given, downloaded or built
	manifest *kbuild.Manifest
	progress *prefixWriter
	// prepared boots the side with the options' cases; confirm with the
	// regressed ones. Each is prepared once, however many rounds boot it.
	prepared, confirm *run.Prepared
}

// vm is one VM of a comparison.
type vm struct {
	side  string   // "base" or "patched"
	round int      // 0 the comparison, 1... the confirmation rounds
	cases []string // the cases it runs in a confirmation round; nil: the options'
	p     *run.Prepared
	// dir is its result directory, inside the comparison's stage; final
	// is where that will be once the stage is committed.
	dir, final string
}

func bootVM(ctx context.Context, v *vm) (*run.Result, error) {
	return v.p.Into(v.dir, v.final).Run(ctx)
}

// Run compares the patched kernel with the base: it obtains both (a
// download or a build, one after the other, since a build uses every
// CPU), boots them side by side, re-runs what regressed (Options.Confirm),
// and writes the comparison directory, staged and committed whole as
// run.Stage and run.Commit do it. A side given as an earlier result
// directory is not booted: its result.json stands.
//
// Every option and both kernels are checked before anything is built or
// booted; those errors match inputerr.ErrBadInput. When
// ctx ends before the VMs ran, nothing is written and the error wraps
// ctx's; when it ends while they run, the comparison holds the cases that
// ran and the error is nil. A side's failed run (a crash, a timeout) is
// not an error: its result says so.
func Run(ctx context.Context, base, patched *run.KernelRef, o Options) (*Report, error) {
	if base == nil || patched == nil {
		return nil, inputerr.Wrap(errors.New("a comparison needs a base and a patched kernel"))
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	if o.boot == nil {
		o.boot = bootVM
	}
	if err := o.Run.Check(); err != nil {
		return nil, err
	}
	if len(o.Run.Exec) > 0 {
		return nil, inputerr.Errorf("exec", "", "runs programs instead of the matrix, and a comparison compares the matrix's cases; run the programs on each kernel on its own")
	}
	if err := run.CheckOut(o.Out, o.Force); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	sides := []*side{{label: "base", ref: base}, {label: "patched", ref: patched}}
	for _, s := range sides {
		s.progress = &prefixWriter{mu: &mu, w: progress}
		if !s.ref.Bootable() {
			continue
		}
		k, m, err := s.ref.Obtain(ctx, run.ObtainOptions{CacheDir: o.Run.CacheDir, Jobs: o.Jobs, Progress: func(l string) { fmt.Fprintf(progress, "%s build: %s\n", s.label, l) }})
		if err != nil {
			if ctx.Err() != nil {
				return nil, &stopped{s.label + ": interrupted (no kernel was built or cached)", ctx.Err()}
			}
			return nil, fmt.Errorf("%s: %w", s.label, err)
		}
		s.kernel, s.manifest = k, m
		if m != nil && m.Cached {
			fmt.Fprintf(progress, "%s build: cached %s\n", s.label, m.BzImage)
		}
		ro := o.Run
		ro.Kernel, ro.Progress = k, s.progress
		if s.prepared, err = run.Prepare(ro); err != nil {
			return nil, fmt.Errorf("%s: %w", s.label, err)
		}
	}

	lowerFirstFinisher(sides, runtime.NumCPU())

	outDir := o.Out
	if outDir == "" {
		outDir = run.DefaultOut("compare")
	}
	outDir, _ = filepath.Abs(outDir)
	staging, err := run.NewStaging(outDir)
	if err != nil {
		return nil, err
	}
	defer staging.Discard()
	stage := staging.Dir

	first, err := boot(ctx, o, sides, 0, nil, stage, outDir)
	if err != nil {
		if ctx.Err() != nil {
			return nil, &stopped{"interrupted before the VMs started", ctx.Err()}
		}
		return nil, err
	}
	cs := Cases(first[0].Cases, first[1].Cases)
	// Confirm what looks like a regression before calling it one. Not
	// when a run already failed as a whole or was interrupted: that is
	// reported as such.
	var rounds []Rerun
	unconfirmed := ""
	if ids := rerunnable(Regressions(cs)); len(ids) > 0 && o.Confirm > 0 && !first[0].Infra() && !first[1].Infra() && ctx.Err() == nil {
		fmt.Fprintf(progress, "confirming %d regressed case(s) in fresh VMs, %d time(s): %s\n", len(ids), o.Confirm, strings.Join(ids, ", "))
		for _, s := range sides {
			if !s.ref.Bootable() {
				continue
			}
			ro := o.Run
			ro.Kernel, ro.Progress, ro.Cases = s.kernel, s.progress, ids
			if s.confirm, err = run.Prepare(ro); err != nil {
				return nil, fmt.Errorf("%s: %w", s.label, err)
			}
		}
		for i := 1; i <= o.Confirm && ctx.Err() == nil && unconfirmed == ""; i++ {
			name := fmt.Sprintf("confirm-%d", i)
			rs, err := boot(ctx, o, sides, i, ids, filepath.Join(stage, name), filepath.Join(outDir, name))
			if err != nil {
				if ctx.Err() != nil {
					break // the first comparison is written below
				}
				return nil, err
			}
			var r Rerun
			for j, s := range sides {
				if !s.ref.Bootable() {
					continue
				}
				if rs[j].Infra() && ctx.Err() == nil {
					unconfirmed = fmt.Sprintf("%s %s run: %s: %s", name, s.label, rs[j].Status, rs[j].StatusDetail)
				}
				m := map[string]result.Outcome{}
				for _, c := range rs[j].Cases {
					m[c.ID] = c.Outcome
				}
				if j == 0 {
					r.Base = m
				} else {
					r.Patched = m
				}
			}
			if ctx.Err() == nil && unconfirmed == "" {
				rounds = append(rounds, r)
			}
		}
		cs = Confirm(cs, rounds)
	}
	cmp := &Comparison{
		Base:    SideResult{Source: base.Arg, Kind: string(base.Kind), Build: sides[0].manifest, Result: first[0]},
		Patched: SideResult{Source: patched.Arg, Kind: string(patched.Kind), Build: sides[1].manifest, Result: first[1]},
		Summary: Count(cs), Regressions: Regressions(cs), Flaky: ofVerdict(cs, Flaky),
		Confirm: len(rounds), Cases: cs,
	}
	if cmp.Regressions == nil {
		cmp.Regressions = []string{}
	}
	js, err := json.MarshalIndent(cmp, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", JSONFile, err)
	}
	var md bytes.Buffer
	Markdown(&md, mdSide("base", base, first[0]), mdSide("patched", patched, first[1]), cs)
	// Nothing half-written is moved into place: the stage is removed on
	// any error.
	err = errors.Join(
		os.WriteFile(filepath.Join(stage, JSONFile), append(js, '\n'), 0o644),
		os.WriteFile(filepath.Join(stage, MarkdownFile), md.Bytes(), 0o644))
	if err != nil {
		return nil, fmt.Errorf("write the comparison: %w", err)
	}
	if o.Report != nil {
		if err := o.Report(stage, cmp); err != nil {
			return nil, fmt.Errorf("write the reports: %w", err)
		}
	}
	if err := staging.Commit(); err != nil {
		return nil, err
	}
	return &Report{Comparison: cmp, Dir: outDir, Unconfirmed: unconfirmed}, nil
}

// stopped is the error of a comparison that ctx ended before any VM ran:
// it says what was cut short, and is ctx's error.
type stopped struct {
	msg string
	err error
}

func (e *stopped) Error() string { return e.msg }
func (e *stopped) Unwrap() error { return e.err }

// boot runs one round: every bootable side at once, each into dir/<side>
// (final/<side> once the stage is committed), with only ids in a
// confirmation round. Under TCG each VM keeps one host CPU busy and the
// results are independent, so they run in parallel. It returns each
// side's result, a result directory's own for a side that is not booted.
func boot(ctx context.Context, o Options, sides []*side, round int, ids []string, dir, final string) ([]*run.Result, error) {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, fmt.Errorf("create %s: %w", dir, err)
	}
	res := make([]*run.Result, len(sides))
	errs := make([]error, len(sides))
	var wg sync.WaitGroup
	for i, s := range sides {
		if !s.ref.Bootable() {
			res[i] = s.ref.Result
			continue
		}
		v := &vm{side: s.label, round: round, p: s.prepared, dir: filepath.Join(dir, s.label), final: filepath.Join(final, s.label)}
		s.progress.prefix = fmt.Sprintf("%-8s", s.label+":")
		if round > 0 {
			v.cases, v.p = ids, s.confirm
			s.progress.prefix = fmt.Sprintf("[confirm-%d] %s", round, s.progress.prefix)
		}
		wg.Go(func() {
			res[i], errs[i] = o.boot(ctx, v)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", s.label, errs[i])
			}
		})
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

// firstFinisherNice is the nice value of the VM a comparison expects to
// finish first, when the host cannot run both at full speed.
const firstFinisherNice = 10

// lowerFirstFinisher lowers the CPU priority of the side expected to
// finish first when the host has fewer CPUs than the two VMs have vCPUs.
// A comparison takes as long as its slower VM; run side by side on two
// CPUs, the other VM's cases take CPU from its boot (measured: Debian's
// kernel booted in 3.4 s beside the minimal kernel's VM, 2.4 s alone). At
// a lower priority the quicker VM takes what the slower one leaves (the
// slower one's boot keeps one vCPU busy, not two), and still ends first.
// Which is quicker is guessed from the kernel images' sizes: a bigger
// kernel has more to boot. A wrong guess, or kernels of one size (a
// patch's base and its patched build), leave things as fair sharing
// would: the work is the same, only its order changes.
func lowerFirstFinisher(sides []*side, cpus int) {
	if len(sides) != 2 || cpus >= 2*qemu.DefaultCPUs {
		return
	}
	var size [2]int64
	for i, s := range sides {
		fi, err := os.Stat(s.kernel)
		if !s.ref.Bootable() || s.prepared == nil || err != nil {
			return
		}
		size[i] = fi.Size()
	}
	switch {
	case size[0] < size[1]:
		sides[0].prepared = sides[0].prepared.Niced(firstFinisherNice)
	case size[1] < size[0]:
		sides[1].prepared = sides[1].prepared.Niced(firstFinisherNice)
	}
}

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

func ofVerdict(cs []Case, v Verdict) []string {
	ids := []string{}
	for _, c := range cs {
		if c.Verdict == v {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

func mdSide(label string, k *run.KernelRef, r *run.Result) Side {
	return Side{Label: label, Kernel: r.Kernel.Release, Source: k.Arg, Accel: r.Accel, Summary: r.Summary}
}
