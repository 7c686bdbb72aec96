package mutate

import (
	"fmt"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/internal/result"
)

// TestStopWatch feeds host/run progress in odd-sized pieces: the first
// failing or erroring case stops the run, once; passes, skips and other
// lines do not, nor a case ID that merely contains "fail".
func TestStopWatch(t *testing.T) {
	tests := []struct {
		progress string
		first    string
	}{
		{"booting x under tcg (151 cases)\n[1/151] pass        set_tid/fail-looking\n[2/151] skip        a\n", ""},
		{"[1/151] pass        a\n[2/151] fail        set_tid/pid/pid-max\n[3/151] error       b\n", "set_tid/pid/pid-max"},
		{"[1/-1] error       set_tid/args/size-33\n", "set_tid/args/size-33"},
		{"warning: [1/2] fail x in a message\n", ""},
	}
	for _, tt := range tests {
		stops := 0
		var passed strings.Builder
		w := &stopWatch{w: &passed, stop: func() { stops++ }}
		for i := 0; i < len(tt.progress); i += 7 {
			w.Write([]byte(tt.progress[i:min(i+7, len(tt.progress))]))
		}
		wantStops := 0
		if tt.first != "" {
			wantStops = 1
		}
		if stops != wantStops || w.first != tt.first {
			t.Errorf("%q: %d stops, first %q; want %d, %q", tt.progress, stops, w.first, wantStops, tt.first)
		}
		if passed.String() != tt.progress {
			t.Errorf("progress not passed through: %q", passed.String())
		}
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
