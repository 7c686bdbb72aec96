package mutate

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/result"
)

// TestOutcome: a run stopped at its first failure is a kill by that
// case, with the cases it left out neither killers nor counted as run; a
// crash kills with the crash named; QEMU failing is no verdict.
func TestOutcome(t *testing.T) {
	stopped := &run.Result{Status: run.Completed, StoppedAt: "b", StatusDetail: "stopped at the first failing case, b", Cases: []result.Case{
		{ID: "a", Outcome: result.Pass}, {ID: "b", Outcome: result.Fail},
		{ID: "c", Outcome: result.Skip, Reason: "not run: stopped at the first failing case, b"}}}
	crashed := &run.Result{Status: run.Crashed, CrashTitle: "BUG: kernel NULL pointer dereference", Cases: []result.Case{
		{ID: "a", Outcome: result.Pass}, {ID: "b", Outcome: result.Error, Reason: "not run: crashed"}}}
	tests := []struct {
		res    *run.Result
		ctxErr error
		want   RunOutcome
	}{
		{stopped, nil, RunOutcome{Status: "completed", Failed: []string{"b"}, Ran: 2, Detail: "stopped at the first failing case, b", Dir: "d"}},
		{crashed, nil, RunOutcome{Status: "crashed", Ran: 1, Detail: "BUG: kernel NULL pointer dereference", Dir: "d"}},
		{&run.Result{Status: run.QEMUFailed, StatusDetail: "no qemu"}, nil, RunOutcome{Status: "qemu-failed", Infra: true, Detail: "no qemu", Dir: "d"}},
	}
	for _, tt := range tests {
		got, err := outcome(tt.res, "d", tt.ctxErr)
		if err != nil || !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("outcome(%s) = %+v, %v; want %+v", tt.res.Status, got, err, tt.want)
		}
	}
	if _, err := outcome(&run.Result{Status: run.Interrupted}, "d", nil); err == nil {
		t.Error("an interrupted run gave a verdict")
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		outcomes []Outcome
		score    float64
		below    float64 // a minimum the score misses
	}{
		{[]Outcome{Killed, Killed, Survived, Stillborn, Equivalent, Duplicate, Error}, 2.0 / 3, 0.7},
		{[]Outcome{Stillborn, Equivalent}, -1, 0.01},
		{[]Outcome{Killed}, 1, 1.01},
	}
	for _, tt := range tests {
		var rs []Result
		for _, o := range tt.outcomes {
			rs = append(rs, Result{Mutant: Mutant{Operator: OpErrno}, Outcome: o})
		}
		r := NewReport(nil, "", rs)
		if r.Score != tt.score || !r.Below(tt.below) || r.Below(tt.score) {
			t.Errorf("%v: score %v (below %v: %v)", tt.outcomes, r.Score, tt.below, r.Below(tt.below))
		}
		if r.PerOperator[OpErrno].Total != len(tt.outcomes) {
			t.Errorf("%v: per-operator total %d", tt.outcomes, r.PerOperator[OpErrno].Total)
		}
	}
}

func TestKillers(t *testing.T) {
	cases := []result.Case{
		{ID: "a", Outcome: result.Pass},
		{ID: "b", Outcome: result.Fail, Reason: "expected EINVAL, got EPERM"},
		{ID: "c", Outcome: result.Error, Reason: "the kernel reported WARNING: x while this case ran"},
		{ID: "d", Outcome: result.Skip},
		{ID: "e", Outcome: result.Error, Reason: "not run: interrupted"},
		{ID: "f", Outcome: result.Error, Reason: "not run: crashed"},
	}
	if got := fmt.Sprint(killers(cases)); got != "[b c]" {
		t.Errorf("killers = %s, want [b c]", got)
	}
}
