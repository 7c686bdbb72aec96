package mutate

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/result"
)

// VM runs the matrix on each mutant kernel with host/run. It implements
// Runner.
type VM struct {
	// Options is the template of every run; Kernel and Out are set per
	// mutant.
	Options run.Options
	// Full runs every case; otherwise the run stops at the first failing
	// case, which is all a kill needs.
	Full bool
}

// caseLine is host/run's progress line for a finished case:
// "[12/151] fail        set_tid/pid/pid-max". host/run has no option to
// stop at the first failure, so the run is cancelled when such a line
// says fail or error (see docs/mutate.md: an option in host/run would be
// sturdier than reading its progress text).
var caseLine = regexp.MustCompile(`^\[[0-9]+/[0-9-]+\] (fail|error) +(\S+)`)

// notRun opens host/run's reason for a case the VM never reached.
const notRun = "not run:"

// stopWatch passes progress through and calls stop at the first failing
// case.
type stopWatch struct {
	mu   sync.Mutex
	w    io.Writer
	buf  []byte
	stop func()
	hit  bool
	// first is the failing case that stopped the run.
	first string
}

func (s *stopWatch) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		if m := caseLine.FindSubmatch(s.buf[:i]); !s.hit && m != nil {
			s.hit, s.first = true, string(m[2])
			s.stop()
		}
		s.buf = s.buf[i+1:]
	}
	if s.w != nil {
		return s.w.Write(p)
	}
	return len(p), nil
}

// Run boots kernel and reports the failing cases.
func (v *VM) Run(ctx context.Context, kernel, outDir string) (*RunOutcome, error) {
	o := v.Options
	o.Kernel, o.Out = kernel, outDir
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var watch *stopWatch
	if !v.Full {
		watch = &stopWatch{w: o.Progress, stop: cancel}
		o.Progress = watch
	}
	p, err := run.Prepare(o)
	if err != nil {
		return nil, fmt.Errorf("prepare run of %s: %w", kernel, err)
	}
	res, err := p.Run(rctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return &RunOutcome{Infra: true, Detail: err.Error(), Dir: outDir}, nil
	}
	out := &RunOutcome{Status: string(res.Status), Detail: res.StatusDetail, Dir: outDir}
	out.Failed = killers(res.Cases)
	stoppedByUs, first := false, ""
	if watch != nil {
		watch.mu.Lock()
		stoppedByUs, first = watch.hit && ctx.Err() == nil, watch.first
		watch.mu.Unlock()
	}
	switch {
	case stoppedByUs:
		// Interrupted on purpose: the failing case is what counts.
		out.Status = string(run.Completed)
		out.Detail = "stopped at the first failing case"
		if len(out.Failed) == 0 {
			out.Failed = []string{first}
		}
	case res.Status == run.QEMUFailed:
		out.Infra = true
	case res.Status == run.Interrupted:
		return nil, fmt.Errorf("run of %s interrupted", kernel)
	}
	if res.CrashTitle != "" {
		out.Detail = res.CrashTitle
	}
	return out, nil
}

// killers are the cases that failed or errored, in run order, without
// those host/run reports as errors because a stopped or crashed VM never
// reached them ("not run: ..."): they killed nothing.
func killers(cases []result.Case) []string {
	var out []string
	for _, c := range cases {
		if c.Outcome.Failed() && !strings.HasPrefix(c.Reason, notRun) {
			out = append(out, c.ID)
		}
	}
	return out
}
