package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/vmtest/vmtest/host/compare"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// cmdEachPatch is vmtest compare --each-patch: the base and each prefix
// of a patch series, run one after another, and which patch changed
// which case. Its exit status is compare's: 1 when the series as a whole
// regressed a case, 3 when a step did not run properly or a build
// failed.
func cmdEachPatch(ctx context.Context, rf *runFlags, base, kernel, out string, force, jsonOut bool, stdout, stderr io.Writer) int {
	const who = "vmtest compare --each-patch"
	if base != "" {
		return reportErr(stderr, who, inputerr.Errorf("base", base, "is not used with --each-patch: the base is --kernel's build spec without its patches"))
	}
	if err := rf.checkReports(); err != nil {
		return reportErr(stderr, who, err)
	}
	ref, err := run.ParseKernel("kernel", kernel, false)
	if err != nil {
		return reportErr(stderr, who, err)
	}
	progress, stopProgress := liveProgress(ctx, stderr)
	defer stopProgress()
	ro := rf.options()
	ro.Reporter = rf.reporter(nil)
	s, dir, err := compare.RunSeries(ctx, ref, compare.Options{Run: ro, Out: out, Force: force, Jobs: rf.jobs, Progress: progress})
	stopProgress()
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintf(stderr, "%s: %v\n", who, err)
			return exitInterrupted
		}
		return reportErr(stderr, who, err)
	}
	if jsonOut {
		printJSON(stdout, s)
	} else {
		compare.SeriesTable(stdout, s)
	}
	fmt.Fprintf(stderr, "series: %s (%s, %s, step-0 .. step-%d)\n", dir, compare.SeriesJSONFile, compare.SeriesMarkdownFile, len(s.Steps)-1)
	if ctx.Err() != nil {
		fmt.Fprintf(stderr, "%s: interrupted; the series holds the steps that ran\n", who)
		return exitInterrupted
	}
	for _, st := range s.Steps {
		if st.Result.Infra() {
			fmt.Fprintf(stderr, "%s: step %d run: %s: %s\n", who, st.Patches, st.Status, st.Result.StatusDetail)
			return exitInfra
		}
	}
	if len(s.Regressions) > 0 {
		fmt.Fprintf(stderr, "%s: %d regressed over the series: %s\n", who, len(s.Regressions), strings.Join(s.Regressions, ", "))
		return exitFailed
	}
	return exitOK
}
