// Command vmtest verifies Linux kernel patches in QEMU virtual machines: it
// boots a kernel with an initramfs holding the guest agent (cmd/vmtest-agent,
// found beside this binary) and runs the clone3() set_tid conformance matrix.
//
// Exit status: 0 no case failed; 1 a case failed; 2 bad input or usage
// (nothing built or booted); 3 infrastructure failure (no boot, kernel
// crash, timeout, missing done record); 130 interrupted (SIGINT, SIGTERM).
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/report"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/catalog"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitInfra  = 3
	// exitInterrupted is what a shell reports for a command SIGINT ended.
	exitInterrupted = 130
)

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: vmtest COMMAND [flags]

commands:
  run      boot a kernel and run the set_tid matrix
  matrix   list the matrix's cases without booting
  build    build a bzImage from a kernel tree, config fragment and patches
  compare  run base and patched kernels side by side and classify what changed
  merge    join the result directories of run or mutate --shard K/N into one
  mutate   how strong the tests are for some code: mutants of it, each built and run
  bisect   find the first commit of a git kernel tree where selected cases fail
  doctor   what vmtest finds on this host: QEMU, the KVM verdict, caches, build tools

Run 'vmtest COMMAND -h' for a command's flags.
`

// Main runs the CLI and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "matrix":
		return cmdMatrix(args[1:], stdout, stderr)
	case "build":
		return cmdBuild(ctx, args[1:], stdout, stderr)
	case "compare":
		return cmdCompare(ctx, args[1:], stdout, stderr)
	case "merge":
		return cmdMerge(ctx, args[1:], stdout, stderr)
	case "doctor":
		return cmdDoctor(ctx, args[1:], stdout, stderr)
	case "mutate":
		return cmdMutate(ctx, args[1:], stdout, stderr)
	case "bisect", bisectStepCmd:
		return cmdBisect(ctx, args, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "vmtest: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

func cmdMatrix(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest matrix", flag.ContinueOnError)
	var cases []string
	fs.Var(listFlag{&cases, true}, "case", "only cases whose ID matches this glob (repeatable)")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	sel, err := catalog.Select(cases)
	if err != nil {
		fmt.Fprintf(stderr, "vmtest matrix: %s\n", caseFlagError(err))
		return exitUsage
	}
	report.Matrix(stdout, sel)
	fmt.Fprintf(stdout, "%d cases\n", len(sel))
	return exitOK
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	fs := flag.NewFlagSet("vmtest run", flag.ContinueOnError)
	rf := addRunFlags(fs)
	var res *run.Result
	defer func() { code = rf.exitMode.status(code, res, stderr) }()
	kernel := fs.String("kernel", "", "bzImage to boot; \"debian\" for Debian's packaged kernel (downloaded once into the cache); or a build spec, build[:patch=FILE,config=FRAG,tree=DIR] (see vmtest build)")
	out := fs.String("out", "", "result directory (default results/<run-id>); an existing one must be an earlier vmtest result, replaced only with --force")
	force := fs.Bool("force", false, "replace the earlier vmtest result --out names")
	repeat := 1
	fs.Var(countFlag{&repeat, 1}, "repeat", "boot `N` times, one fresh VM after another, and report each case's pass count (--out gets one result directory per boot and "+run.RepeatFile+")")
	jsonOut := fs.Bool("json", false, "print result.json (repeat.json with --repeat) to stdout instead of the table")
	var shard catalog.Shard
	fs.Func("shard", "run only slice `K/N` of the selected cases (balanced by recorded durations, the same on every machine); join the slices' results with vmtest merge", func(s string) (err error) {
		shard, err = catalog.ParseShard(s)
		return err
	})
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	o := rf.options()
	o.Kernel, o.Out, o.Shard = *kernel, *out, shard
	progress, stopProgress := liveProgress(ctx, stderr)
	defer stopProgress()
	o.Progress = progress
	// Every flag is checked before a kernel is downloaded, built or booted.
	if err := o.Check(); err != nil {
		return reportErr(stderr, "vmtest run", err)
	}
	if err := rf.checkReports(); err != nil {
		return reportErr(stderr, "vmtest run", err)
	}
	if err := run.CheckOut(o.Out, *force); err != nil {
		return reportErr(stderr, "vmtest run", err)
	}
	ref, err := run.ParseKernelIn(cmp.Or(o.CacheDir, run.DefaultCacheDir()), "kernel", o.Kernel, false)
	if err != nil {
		return reportErr(stderr, "vmtest run", err)
	}
	var manifest *kbuild.Manifest
	if o.Kernel, manifest, err = ref.Obtain(ctx, run.ObtainOptions{CacheDir: o.CacheDir, Jobs: rf.jobs, Progress: func(l string) { fmt.Fprintln(progress, "build: "+l) }}); err != nil {
		return obtainErr(ctx, stderr, "vmtest run", err)
	}
	o.Reporter = rf.reporter(manifest)
	p, err := run.Prepare(o)
	if err != nil {
		return reportErr(stderr, "vmtest run", err)
	}
	if repeat > 1 {
		return runRepeat(ctx, p, repeat, *jsonOut, stdout, stderr)
	}
	res, err = p.Run(ctx)
	stopProgress()
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "vmtest run: interrupted before the VM started")
			return exitInterrupted
		}
		return reportErr(stderr, "vmtest run", err)
	}
	if *jsonOut {
		printJSON(stdout, res)
	} else {
		report.Cases(stdout, res.Cases)
		report.Summary(stdout, res.Cases)
	}
	fmt.Fprintf(stderr, "results: %s (%.1fs, guest %.1fs in cases)\n", res.QEMU.Dir, res.Timings.TotalMS/1000, res.Timings.GuestSumMS/1000)
	if res.Infra() {
		fmt.Fprintf(stderr, "vmtest run: %s: %s\n", res.Status, res.StatusDetail)
		if res.Crash != "" {
			fmt.Fprintf(stderr, "--- console excerpt ---\n%s\n---\n", res.Crash)
		}
	}
	return exitStatus(ctx, res)
}

// runRepeat boots the prepared kernel n times and reports each case's
// pass count.
func runRepeat(ctx context.Context, p *run.Prepared, n int, jsonOut bool, stdout, stderr io.Writer) int {
	rr, err := p.Repeat(ctx, n)
	if err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(stderr, "vmtest run: interrupted")
			return exitInterrupted
		}
		return reportErr(stderr, "vmtest run", err)
	}
	if jsonOut {
		printJSON(stdout, rr)
	} else {
		rr.Report(stdout)
	}
	fmt.Fprintf(stderr, "results: %s (%s and one directory per boot)\n", rr.Dir, run.RepeatFile)
	for _, r := range rr.Runs {
		if r.Status != run.Completed {
			fmt.Fprintf(stderr, "vmtest run: boot %s: %s: %s\n", r.Dir, r.Status, r.Detail)
		}
	}
	switch {
	case ctx.Err() != nil || rr.Status == run.Interrupted:
		return exitInterrupted
	case rr.Status != run.Completed:
		return exitInfra
	case rr.Failed():
		return exitFailed
	}
	return exitOK
}

// exitStatus maps a finished run to the exit status: an interrupted run
// is 130 (as a shell reports a command ended by SIGINT), and an
// infrastructure failure outranks failed cases, because the cases'
// outcomes cannot be trusted when the VM did not finish properly.
func exitStatus(ctx context.Context, res *run.Result) int {
	switch {
	case res.Status == run.Interrupted || ctx.Err() != nil:
		return exitInterrupted
	case res.Infra():
		return exitInfra
	case res.Failed():
		return exitFailed
	}
	return exitOK
}

// obtainErr maps a failed download or build: 130 when interrupted, else
// as reportErr (a failed build is 3, bad build input 2).
func obtainErr(ctx context.Context, stderr io.Writer, who string, err error) int {
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "%s: interrupted (no kernel was built or cached)\n", who)
		return exitInterrupted
	}
	return reportErr(stderr, who, err)
}

func printJSON(w io.Writer, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	w.Write(append(b, '\n'))
}

// caseFlagError names the --case flag in a catalog.PatternError.
func caseFlagError(err error) string {
	if pe, ok := errors.AsType[*catalog.PatternError](err); ok {
		return fmt.Sprintf("--case %q %s", pe.Pattern, pe.Problem())
	}
	return err.Error()
}
