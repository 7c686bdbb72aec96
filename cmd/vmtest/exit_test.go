package main

import (
	"context"
	"testing"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/result"
)

func TestExitStatus(t *testing.T) {
	cases := func(os ...result.Outcome) []result.Case {
		var cs []result.Case
		for _, o := range os {
			cs = append(cs, result.Case{ID: "c", Outcome: o})
		}
		return cs
	}
	for _, tc := range []struct {
		name   string
		status run.Status
		cases  []result.Case
		want   int
	}{
		{"all pass", run.Completed, cases(result.Pass, result.Pass), 0},
		{"skip and unsupported are not failures", run.Completed, cases(result.Pass, result.Skip, result.Unsupported), 0},
		{"no cases", run.Completed, nil, 0},
		{"a failure", run.Completed, cases(result.Pass, result.Fail), 1},
		{"an error", run.Completed, cases(result.Error, result.Unsupported), 1},
		{"crash outranks failures", run.Crashed, cases(result.Fail), 3},
		{"crash with passes", run.Crashed, cases(result.Pass), 3},
		{"boot timeout", run.BootTimeout, nil, 3},
		{"case timeout", run.CaseTimeout, cases(result.Pass, result.Error), 3},
		{"run timeout", run.RunTimeout, nil, 3},
		{"no done record", run.NoDone, cases(result.Pass), 3},
		{"qemu failed", run.QEMUFailed, nil, 3},
		{"interrupted", run.Interrupted, cases(result.Pass, result.Error), 130},
	} {
		res := &run.Result{Status: tc.status, Cases: tc.cases}
		if got := exitStatus(context.Background(), res); got != tc.want {
			t.Errorf("%s: exit %d, want %d", tc.name, got, tc.want)
		}
	}
}

// TestExitStatusCancelled: a run whose context was cancelled (SIGINT,
// SIGTERM) exits 130 whatever status the run recorded.
func TestExitStatusCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, st := range []run.Status{run.Completed, run.RunTimeout, run.Interrupted} {
		if got := exitStatus(ctx, &run.Result{Status: st}); got != exitInterrupted {
			t.Errorf("%s after a cancel: exit %d, want %d", st, got, exitInterrupted)
		}
	}
}
