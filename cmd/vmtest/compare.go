package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vmtest/vmtest/host/compare"
	"github.com/vmtest/vmtest/host/run"
)

func cmdCompare(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	fs := flag.NewFlagSet("vmtest compare", flag.ContinueOnError)
	rf := addRunFlags(fs)
	defer func() { code = rf.exitMode.status(code, nil, stderr) }()
	baseArg := fs.String("base", "", "base (unpatched) kernel: a bzImage, debian, a build spec (build[:tree=DIR,config=FRAG,patch=FILE,...]) or an earlier result directory")
	patchedArg := fs.String("kernel", "", "patched kernel: a bzImage, debian, a build spec or an earlier result directory")
	out := fs.String("out", "", "comparison directory (default results/compare-<time>); an existing one must be an earlier vmtest result, replaced only with --force")
	force := fs.Bool("force", false, "replace the earlier vmtest result --out names")
	confirm := 1
	fs.Var(countFlag{&confirm, 0}, "confirm", "re-run every case that regressed `N` times in fresh VMs on both kernels; one whose answers disagree is flaky, not a regression (0: no re-runs)")
	jsonOut := fs.Bool("json", false, "print comparison.json instead of the table")
	eachPatch := fs.Bool("each-patch", false, "build and run the base and each prefix of --kernel's patch series (no --base) and say which patch changed which case")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *eachPatch {
		return cmdEachPatch(ctx, rf, *baseArg, *patchedArg, *out, *force, *jsonOut, stdout, stderr)
	}
	if err := rf.checkReports(); err != nil {
		return reportErr(stderr, "vmtest compare", err)
	}
	var refs [2]*run.KernelRef
	for i, a := range [][2]string{{"base", *baseArg}, {"kernel", *patchedArg}} {
		ref, err := run.ParseKernel(a[0], a[1], true)
		if err != nil {
			return reportErr(stderr, "vmtest compare", err)
		}
		refs[i] = ref
	}
	progress, stopProgress := liveProgress(ctx, stderr)
	defer stopProgress()
	ro := rf.options()
	reports := rf.reporter(nil)
	ro.Reporter = reports
	rep, err := compare.Run(ctx, refs[0], refs[1], compare.Options{
		Run: ro, Out: *out, Force: *force, Jobs: rf.jobs, Confirm: confirm, Progress: progress, Report: reports.Comparison,
	})
	stopProgress()
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(stderr, "vmtest compare: %v\n", err)
			return exitInterrupted
		}
		return reportErr(stderr, "vmtest compare", err)
	}
	if *jsonOut {
		printJSON(stdout, rep.Comparison)
	} else {
		compare.Table(stdout, rep.Comparison.Cases)
		fmt.Fprintln(stdout, compare.SummaryLine(rep.Comparison.Cases))
	}
	fmt.Fprintf(stderr, "comparison: %s (%s, %s)\n", rep.Dir, compare.JSONFile, compare.MarkdownFile)
	return compareStatus(ctx, rep, stderr)
}

// compareStatus maps a written comparison to the exit status, saying why
// on stderr: 130 when interrupted (the comparison holds the cases that
// ran), 3 when a run failed as a whole (its cases cannot be trusted) or a
// confirmation run did (the regressions stand unconfirmed), 1 when a case
// regressed, else 0. Flaky cases are named but are not failures.
func compareStatus(ctx context.Context, rep *compare.Report, stderr io.Writer) int {
	c := rep.Comparison
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "vmtest compare: interrupted; the comparison holds the cases that ran")
		return exitInterrupted
	}
	if rep.Unconfirmed != "" {
		fmt.Fprintf(stderr, "vmtest compare: %s\n", rep.Unconfirmed)
		return exitInfra
	}
	for _, s := range []struct {
		label string
		r     *run.Result
	}{{"base", c.Base.Result}, {"patched", c.Patched.Result}} {
		if s.r.Infra() {
			fmt.Fprintf(stderr, "vmtest compare: %s run: %s: %s\n", s.label, s.r.Status, s.r.StatusDetail)
			if s.r.Crash != "" {
				fmt.Fprintf(stderr, "--- %s console excerpt ---\n%s\n---\n", s.label, s.r.Crash)
			}
			return exitInfra
		}
	}
	if len(c.Flaky) > 0 {
		fmt.Fprintf(stderr, "vmtest compare: %d flaky (not regressions): %s\n", len(c.Flaky), strings.Join(c.Flaky, ", "))
	}
	if len(c.Regressions) > 0 {
		fmt.Fprintf(stderr, "vmtest compare: %d regressed: %s\n", len(c.Regressions), strings.Join(c.Regressions, ", "))
		return exitFailed
	}
	return exitOK
}
