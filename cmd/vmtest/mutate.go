package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vmtest/vmtest/host/mutate"
	"github.com/vmtest/vmtest/host/run"
)

// cmdMutate is `vmtest mutate`: mutants of the code a patch touches (or
// of named functions and line ranges), each built and run, and a score
// of how many the matrix kills.
func cmdMutate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest mutate", flag.ContinueOnError)
	var targets, patches, ops, cases []string
	var o run.Options
	fs.Var(listFlag{&targets, false}, "target", "code to mutate: FILE:FUNCTION (kernel/pid.c:alloc_pid) or FILE:FIRST-LAST (kernel/pid.c:190-206); repeatable")
	fs.Var(listFlag{&patches, false}, "patch", "mutate the lines this patch series adds (repeatable, in order; line numbers are those of the tree with the series applied)")
	buildTree := fs.String("build-tree", "", "vmtest build tree to copy, DIR with src/ and obj/ (~/.cache/vmtest/build/tree-KEY, left by vmtest build or run --kernel build:...); its src/ must already hold the patches")
	srcDir := fs.String("src", "", "source tree to read the targets from for --list (default: the build tree's src/)")
	fs.Var(listFlag{&ops, true}, "operator", "only this mutation operator (repeatable): "+strings.Join(mutate.OperatorNames(), ", "))
	list := fs.Bool("list", false, "list the mutants and the count per operator; build and boot nothing")
	full := fs.Bool("full", false, "run every case on every mutant (default: stop at the first failing case)")
	minScore := fs.String("min-score", "", "exit 1 when the score (killed / killed+survived, 0..1) is below `X`")
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
	if len(targets) == 0 && len(patches) == 0 {
		return usageErr("nothing to mutate: give --target FILE:FUNCTION, --target FILE:FIRST-LAST or --patch FILE")
	}
	if *buildTree == "" && !(*list && *srcDir != "") {
		return usageErr("--build-tree DIR is required (a vmtest build tree, ~/.cache/vmtest/build/tree-KEY; --list can read --src instead)")
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
	src := *srcDir
	if src == "" {
		src = filepath.Join(*buildTree, "src")
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
	if *list {
		listMutants(stdout, mutants)
		return exitOK
	}
	if len(mutants) == 0 {
		return usageErr("the targets yield no mutants (is the code inside a function?)")
	}
	o.Cases = cases
	o.Progress = io.Discard
	if err := o.Check(); err != nil {
		return reportErr(stderr, "vmtest mutate", err)
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("results", "mutate-"+time.Now().UTC().Format("20060102-150405"))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return reportErr(stderr, "vmtest mutate", err)
	}
	logf, err := os.Create(filepath.Join(dir, "build.log"))
	if err != nil {
		return reportErr(stderr, "vmtest mutate", err)
	}
	defer logf.Close()
	if jobs == 0 {
		jobs = runtime.NumCPU()
	}
	fmt.Fprintf(stderr, "mutate: %d mutants; copying %s (a new copy recompiles everything once, a reused one only what changed; log: %s)\n", len(mutants), *buildTree, logf.Name())
	tree, err := mutate.Scratch(ctx, *buildTree, filepath.Join(dir, "tree"), jobs, logf)
	if err != nil {
		return reportErr(stderr, "vmtest mutate", err)
	}
	results, err := mutate.Run(ctx, mutants, mutate.Options{
		Builder: tree, Runner: &mutate.VM{Options: o, Full: *full}, Out: dir, Progress: stderr,
	})
	rep := mutate.NewReport(names, *buildTree, results)
	if werr := rep.Write(dir); werr != nil {
		return reportErr(stderr, "vmtest mutate", werr)
	}
	fmt.Fprintf(stderr, "mutate: %s/mutate.md\n", dir)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "vmtest mutate: interrupted; the report holds the mutants decided so far")
			return exitInterrupted
		}
		return reportErr(stderr, "vmtest mutate", err)
	}
	c := rep.Counts
	fmt.Fprintf(stdout, "score %.3f: %d killed, %d survived, %d stillborn, %d equivalent, %d duplicate, %d error\n", rep.Score, c.Killed, c.Survived, c.Stillborn, c.Equivalent, c.Duplicate, c.Error)
	if min >= 0 && rep.Below(min) {
		fmt.Fprintf(stderr, "vmtest mutate: score %.3f is below --min-score %g\n", rep.Score, min)
		return exitFailed
	}
	return exitOK
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
