package mutate

import (
	"context"
	"fmt"
	"strings"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/result"
)

// VM runs the matrix on each mutant kernel with host/run. It implements
// Runner.
type VM struct {
	// Options is the template of every run; Kernel, Out and StopOnFailure
	// are set per mutant.
	Options run.Options
	// Full runs every case; otherwise the run stops at the first failing
	// case (run.Options.StopOnFailure), which is all a kill needs.
	Full bool
}

// notRun opens host/run's reason for a case the VM never reached.
const notRun = "not run:"

// Run boots kernel and reports the failing cases.
func (v *VM) Run(ctx context.Context, kernel, outDir string) (*RunOutcome, error) {
	o := v.Options
	o.Kernel, o.Out, o.StopOnFailure = kernel, outDir, !v.Full
	p, err := run.Prepare(o)
	if err != nil {
		return nil, fmt.Errorf("prepare run of %s: %w", kernel, err)
	}
	res, err := p.Run(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return &RunOutcome{Infra: true, Detail: err.Error(), Dir: outDir}, nil
	}
	return outcome(res, outDir, ctx.Err())
}

// outcome reads a finished run: its status, the cases that failed, how
// many ran. A run interrupted by the caller (ctxErr set) is no verdict.
func outcome(res *run.Result, dir string, ctxErr error) (*RunOutcome, error) {
	if res.Status == run.Interrupted || ctxErr != nil {
		return nil, fmt.Errorf("run of %s interrupted", res.Kernel.Path)
	}
	out := &RunOutcome{Status: string(res.Status), Detail: res.StatusDetail, Dir: dir, Infra: res.Status == run.QEMUFailed}
	out.Failed = killers(res.Cases)
	for _, c := range res.Cases {
		if !strings.HasPrefix(c.Reason, notRun) {
			out.Ran++
		}
	}
	if res.CrashTitle != "" {
		out.Detail = res.CrashTitle
	}
	return out, nil
}

// killers are the cases that failed or errored, in run order, without
// those host/run reports as errors because a crashed VM never reached
// them ("not run: ..."): they killed nothing.
func killers(cases []result.Case) []string {
	var out []string
	for _, c := range cases {
		if c.Outcome.Failed() && !strings.HasPrefix(c.Reason, notRun) {
			out = append(out, c.ID)
		}
	}
	return out
}
