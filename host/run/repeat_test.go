package run

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/internal/result"
)

func TestTally(t *testing.T) {
	const (
		P = result.Pass
		F = result.Fail
		E = result.Error
		U = result.Unsupported
	)
	run := func(st Status, os ...result.Outcome) *Result {
		r := &Result{Status: st}
		for i, o := range os {
			r.Cases = append(r.Cases, result.Case{ID: fmt.Sprintf("c%d", i), Outcome: o})
		}
		return r
	}
	for _, tc := range []struct {
		name  string
		runs  []*Result
		want  string // per case: passes/runs, * when flaky
		flaky string
	}{
		{"none", nil, "", ""},
		{"one run", []*Result{run(Completed, P, F, U)}, "c0 1/1, c1 0/1, c2 0/1", ""},
		{"steady", []*Result{run(Completed, P, F, U), run(Completed, P, F, U), run(Completed, P, F, U)}, "c0 3/3, c1 0/3, c2 0/3", ""},
		{"one flake", []*Result{run(Completed, P, P), run(Completed, P, E), run(Completed, P, P)}, "c0 3/3, c1 2/3*", "c1"},
		{"fail and error differ", []*Result{run(Completed, F), run(Completed, E)}, "c0 0/2*", "c0"},
		// A boot that did not complete answered nothing: its "not run"
		// errors are not flakes.
		{"crashed boot left out", []*Result{run(Completed, P, P), run(Crashed, P, E), run(Interrupted, E, E)}, "c0 1/1, c1 1/1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs, flaky := Tally(tc.runs)
			var got []string
			for _, c := range cs {
				s := fmt.Sprintf("%s %d/%d", c.ID, c.Passes, c.Runs)
				if c.Flaky {
					s += "*"
				}
				if len(c.Outcomes) != c.Runs {
					t.Errorf("%s: %d outcomes for %d runs", c.ID, len(c.Outcomes), c.Runs)
				}
				got = append(got, s)
			}
			if strings.Join(got, ", ") != tc.want || strings.Join(flaky, ",") != tc.flaky {
				t.Errorf("Tally = %q flaky %q, want %q flaky %q", strings.Join(got, ", "), flaky, tc.want, tc.flaky)
			}
		})
	}
}

func TestRepeatReport(t *testing.T) {
	rr := &RepeatResult{Repeats: 3, Runs: []RepeatRun{{Status: Completed}, {Status: Completed}, {Status: Completed}}}
	rr.Cases, rr.Flaky = Tally([]*Result{
		{Status: Completed, Cases: []result.Case{{ID: "a/ok", Outcome: result.Pass}, {ID: "a/flake", Outcome: result.Pass}, {ID: "a/u", Outcome: result.Unsupported}}},
		{Status: Completed, Cases: []result.Case{{ID: "a/ok", Outcome: result.Pass}, {ID: "a/flake", Outcome: result.Error}, {ID: "a/u", Outcome: result.Unsupported}}},
		{Status: Completed, Cases: []result.Case{{ID: "a/ok", Outcome: result.Pass}, {ID: "a/flake", Outcome: result.Pass}, {ID: "a/u", Outcome: result.Unsupported}}},
	})
	var b bytes.Buffer
	rr.Report(&b)
	for _, want := range []string{
		"a/flake  2/3 pass  pass error pass  flaky",
		"a/u      0/3 pass  unsupported unsupported unsupported\n",
		"3 cases over 3 of 3 boots (3 completed): 1 passed every time, 1 flaky, 1 the same other outcome every time",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("Report lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "a/ok") {
		t.Errorf("cases that passed every time are counted, not listed:\n%s", b.String())
	}
	if !rr.Failed() {
		t.Error("Failed() false with an error in one boot")
	}
}
