package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/host/fetch"
	"github.com/vmtest/vmtest/host/htmlreport"
	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/mutate"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// cmdMutate is `vmtest mutate`: mutants of the code a patch touches (or
// of named functions, statements and line ranges), each built and run,
// and a score of how many the matrix kills.
func cmdMutate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest mutate", flag.ContinueOnError)
	var targets, patches, ops, cases []string
	var o run.Options
	kernel := fs.String("kernel", kbuild.SpecPrefix, "the kernel to mutate, a build spec as vmtest run --kernel takes, build[:patch=FILE,config=FRAG,tree=DIR] (default: the minimal config on Debian's 6.1 source); built once if the cache lacks it")
	fs.Var(listFlag{&targets, false}, "target", "code to mutate: FILE:FUNCTION (kernel/pid.c:alloc_pid), FILE:FUNCTION@STATEMENT (the statement of the function that opens with that code: kernel/pid.c:alloc_pid@if (set_tid_size)) or FILE:FIRST-LAST (kernel/pid.c:190-206); repeatable")
	fs.Var(listFlag{&patches, false}, "patch", "mutate the lines this patch adds; it is applied after the --kernel spec's own patches (repeatable, in order; line numbers are those of the tree with the series applied)")
	srcDir := fs.String("src", "", "source tree to read the targets from for --list (default: the --kernel spec's tree)")
	explain := fs.String("explain", "", "JSON `FILE` of explanations of survivors that are equivalent in behaviour (kernels/mutate/set_tid-explained.json; see docs/mutate.md); they still count as survivors")
	var shard catalog.Shard
	fs.Func("shard", "mutate only slice `K/N` of the mutants (the i-th to shard i mod N + 1); join the slices' reports with vmtest merge", func(s string) (err error) {
		shard, err = catalog.ParseShard(s)
		return err
	})
	fs.Var(listFlag{&ops, true}, "operator", "only this mutation operator (repeatable): "+strings.Join(mutate.OperatorNames(), ", "))
	list := fs.Bool("list", false, "list the mutants and the count per operator; build and boot nothing")
	full := fs.Bool("full", false, "run every case on every mutant (default: stop at the first failing case)")
	minScore := fs.String("min-score", "", "exit 1 when the score (killed / killed+survived, 0..1) is below `X`")
	reexplain := fs.String("reexplain", "", "judge the survivors of an earlier report again: read `DIR`/mutate.json, attach --explain's explanations afresh and rewrite mutate.json and mutate.md (builds and boots nothing)")
	out := fs.String("out", "", "directory for mutate.json, mutate.md, the scratch tree and the runs (default results/mutate-<time>)")
	jobs := 0
	fs.Var(countFlag{&jobs, 1}, "j", "`N` parallel make jobs (default: number of CPUs)")
	accelVar(fs, &o.Accel)
	fs.Var(listFlag{&cases, true}, "case", "run only cases whose ID matches this glob (repeatable)")
	fs.StringVar(&o.QEMU, "qemu", "", "QEMU binary (default qemu-system-x86_64 from PATH)")
	fs.StringVar(&o.CacheDir, "cache", "", "cache directory (default ~/.cache/vmtest)")
	fs.Var(durationFlag{&o.Timeouts.Boot}, "boot-timeout", "`duration` the guest agent has to report")
	fs.Var(durationFlag{&o.Timeouts.Case}, "case-timeout", "`duration` allowed for one case")
	fs.Var(durationFlag{&o.Timeouts.Run}, "timeout", "`duration` allowed for one mutant's VM")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "vmtest mutate: "+format+"\n", a...)
		return exitUsage
	}
	min := -1.0
	if *minScore != "" {
		v, err := strconv.ParseFloat(*minScore, 64)
		if err != nil || v < 0 || v > 1 {
			return usageErr("--min-score %q: want a number from 0 to 1", *minScore)
		}
		min = v
	}
	if *reexplain != "" {
		return reexplainReport(*reexplain, *explain, min, stdout, stderr)
	}
	if len(targets) == 0 && len(patches) == 0 {
		return usageErr("nothing to mutate: give --target FILE:FUNCTION, --target FILE:FUNCTION@STATEMENT, --target FILE:FIRST-LAST or --patch FILE")
	}
	if err := run.CheckCache(o.CacheDir); err != nil {
		return reportErr(stderr, "vmtest mutate", err)
	}
	ref, err := run.ParseKernel("kernel", *kernel, false)
	if err != nil {
		return reportErr(stderr, "vmtest mutate", err)
	}
	if ref.Kind != run.KernelBuild {
		return reportErr(stderr, "vmtest mutate", inputerr.Errorf("kernel", *kernel, "is not a build spec: mutate rebuilds the kernel for every mutant, so it needs its source (give build[:patch=FILE,config=FRAG,tree=DIR])"))
	}
	spec := ref.Spec
	spec.Patches = append(slices.Clone(spec.Patches), patches...)
	if err := kbuild.CheckInputs(spec); err != nil {
		return reportErr(stderr, "vmtest mutate", err)
	}
	var ts []mutate.Target
	for _, s := range targets {
		t, err := mutate.ParseTarget(s)
		if err != nil {
			return usageErr("--target: %v", err)
		}
		ts = append(ts, t)
	}
	if len(patches) > 0 {
		var series [][]byte
		for _, p := range patches {
			data, err := os.ReadFile(p)
			if err != nil {
				return usageErr("--patch: %v", err)
			}
			series = append(series, data)
		}
		pt, err := mutate.PatchTargets(series...)
		if err != nil {
			return usageErr("--patch: %v", err)
		}
		ts = append(ts, pt...)
	}
	var explanations []mutate.Explanation
	if *explain != "" {
		if explanations, err = mutate.ReadExplanations(*explain); err != nil {
			return usageErr("--explain: %v", err)
		}
	}
	if *srcDir != "" && !*list {
		return usageErr("--src is for --list only: the mutants are built in a copy of the --kernel spec's tree and must be read from there")
	}
	if !*list {
		o.Cases = cases
		if err := o.Check(); err != nil {
			return reportErr(stderr, "vmtest mutate", err)
		}
	}
	if o.CacheDir == "" {
		o.CacheDir = run.DefaultCacheDir()
	}
	if jobs == 0 {
		jobs = runtime.NumCPU()
	}
	progress := func(s string) { fmt.Fprintln(stderr, "mutate: "+s) }
	if spec.Tree == "" {
		if spec.Tree, err = fetch.DebianSource(ctx, o.CacheDir, progress); err != nil {
			return obtainErr(ctx, stderr, "vmtest mutate", fmt.Errorf("obtain the default source tree: %w", err))
		}
	}
	dir := *out
	if dir == "" {
		dir = run.DefaultOut("mutate")
	}
	// Absolute: the kernels' manifests name their files by it, and QEMU
	// runs in each result directory.
	if dir, err = filepath.Abs(dir); err != nil {
		return reportErr(stderr, "vmtest mutate", err)
	}
	// The targets are read from the tree the mutants are built in: the
	// spec's tree with every patch applied. --list reads the spec's tree
	// itself when nothing is patched, so that it builds nothing.
	var tree *kbuild.ScratchTree
	src := *srcDir
	if src == "" && *list && len(spec.Patches) == 0 {
		src = spec.Tree
	}
	if src == "" {
		progress(fmt.Sprintf("preparing the scratch tree %s (built from the cache's objects: an incremental build)", filepath.Join(dir, "tree")))
		if tree, err = kbuild.Scratch(ctx, spec, kbuild.Options{CacheDir: o.CacheDir, Jobs: jobs, Progress: progress}, filepath.Join(dir, "tree")); err != nil {
			return obtainErr(ctx, stderr, "vmtest mutate", err)
		}
		src = tree.Src
	}
	var mutants []mutate.Mutant
	var names []string
	for _, t := range ts {
		data, err := os.ReadFile(filepath.Join(src, t.File))
		if err != nil {
			return usageErr("target %s: %v (paths are relative to the kernel tree)", t, err)
		}
		ms, err := mutate.Generate(t, data, ops)
		if err != nil {
			return usageErr("target %s: %v", t, err)
		}
		mutants = append(mutants, ms...)
		names = append(names, t.String())
	}
	generated := len(mutants)
	mutants = mutate.Shard(mutants, shard)
	if *list {
		listMutants(stdout, mutants)
		return exitOK
	}
	if len(mutants) == 0 {
		return usageErr("the targets yield no mutants (is the code inside a function? is --shard finer than the mutants?)")
	}
	o.Progress = io.Discard
	logf, err := os.Create(filepath.Join(dir, "build.log"))
	if err != nil {
		return reportErr(stderr, "vmtest mutate", err)
	}
	defer logf.Close()
	progress(fmt.Sprintf("%d mutants of %s (log: %s)", len(mutants), strings.Join(names, ", "), logf.Name()))
	results, err := mutate.Run(ctx, mutants, mutate.Options{
		Builder: &mutate.Tree{Src: tree.Src, Obj: tree.Obj, Jobs: jobs, Log: logf},
		Runner:  &mutate.VM{Options: o, Full: *full}, Out: dir, Progress: stderr,
	})
	unused := mutate.Explain(results, explanations)
	rep := mutate.NewReport(names, tree.Src, results)
	rep.Kernel, rep.Generated, rep.UnusedExplanations = *kernel, generated, unused
	if !shard.Whole() {
		rep.Shard = &shard
	}
	rep.Tally()
	if werr := errors.Join(rep.Write(dir), htmlreport.WriteMutation(dir, rep)); werr != nil {
		return reportErr(stderr, "vmtest mutate", werr)
	}
	fmt.Fprintf(stderr, "mutate: %s/mutate.md\n", dir)
	for _, e := range unused {
		fmt.Fprintf(stderr, "vmtest mutate: warning: explanation %s (%s in %s) matched no mutant: the code changed, judge it again\n", e.ID, e.Operator, e.Function)
	}
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "vmtest mutate: interrupted; the report holds the mutants decided so far")
			return exitInterrupted
		}
		return reportErr(stderr, "vmtest mutate", err)
	}
	return scoreLine(rep, min, stdout, stderr)
}

// scoreLine prints the score and exits 1 when it misses min (-1: none).
func scoreLine(rep *mutate.Report, min float64, stdout, stderr io.Writer) int {
	c := rep.Counts
	fmt.Fprintf(stdout, "score %.3f: %d killed, %d survived (%d explained), %d stillborn, %d equivalent, %d duplicate, %d error\n", rep.Score, c.Killed, c.Survived, c.Explained, c.Stillborn, c.Equivalent, c.Duplicate, c.Error)
	for _, m := range rep.Mutants {
		if m.Outcome == mutate.Survived {
			state := "unexplained"
			if m.Explanation != "" {
				state = "explained"
			}
			fmt.Fprintf(stdout, "survivor %s (%s): %s\n", m.ID, state, m.Rule)
		}
	}
	if min >= 0 && rep.Below(min) {
		fmt.Fprintf(stderr, "vmtest mutate: score %.3f is below --min-score %g\n", rep.Score, min)
		return exitFailed
	}
	return exitOK
}

// reexplainReport is --reexplain: an earlier report with the explanations
// of file ("" for none) attached afresh.
func reexplainReport(dir, file string, min float64, stdout, stderr io.Writer) int {
	rep, err := mutate.ReadReport(filepath.Join(dir, "mutate.json"))
	if err != nil {
		fmt.Fprintf(stderr, "vmtest mutate: --reexplain: %v (give the --out directory of an earlier vmtest mutate)\n", err)
		return exitUsage
	}
	var es []mutate.Explanation
	if file != "" {
		if es, err = mutate.ReadExplanations(file); err != nil {
			fmt.Fprintf(stderr, "vmtest mutate: --explain: %v\n", err)
			return exitUsage
		}
	}
	rep.Reexplain(es)
	if err := errors.Join(rep.Write(dir), htmlreport.WriteMutation(dir, rep)); err != nil {
		return reportErr(stderr, "vmtest mutate", err)
	}
	for _, e := range rep.UnusedExplanations {
		fmt.Fprintf(stderr, "vmtest mutate: warning: explanation %s (%s in %s) matched no mutant: the code changed, judge it again\n", e.ID, e.Operator, e.Function)
	}
	fmt.Fprintf(stderr, "mutate: %s/mutate.md\n", dir)
	return scoreLine(rep, min, stdout, stderr)
}

// listMutants prints one line per mutant and the count per operator.
func listMutants(w io.Writer, ms []mutate.Mutant) {
	count := map[string]int{}
	for _, m := range ms {
		fmt.Fprintf(w, "%s\t%s\n", m.ID, m.Rule)
		count[m.Operator]++
	}
	var ops []string
	for op := range count {
		ops = append(ops, op)
	}
	order := map[string]int{}
	for i, op := range mutate.OperatorNames() {
		order[op] = i
	}
	sort.Slice(ops, func(i, j int) bool { return order[ops[i]] < order[ops[j]] })
	for _, op := range ops {
		fmt.Fprintf(w, "%-22s %d\n", op, count[op])
	}
	fmt.Fprintf(w, "%d mutants\n", len(ms))
}
