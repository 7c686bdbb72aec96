package compare

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/internal/result"
)

func TestClassify(t *testing.T) {
	const (
		P = result.Pass
		F = result.Fail
		E = result.Error
		S = result.Skip
		U = result.Unsupported
		M = Missing
	)
	for _, tc := range []struct {
		base, patched result.Outcome
		want          Verdict
	}{
		{P, P, UnchangedPass},
		{F, P, Fixed},
		{E, P, Fixed},
		{U, P, NewlySupported},
		{S, P, NewlySupported},
		{M, P, NewlySupported},
		{P, F, Regressed},
		{P, E, Regressed},
		{U, F, Regressed},
		{S, E, Regressed},
		{M, F, Regressed},
		{P, U, Regressed},
		{P, S, Regressed},
		{P, M, Regressed},
		{F, F, StillFailing},
		{E, F, StillFailing},
		{F, E, StillFailing},
		{U, U, Unsupported},
		{S, U, Unsupported},
		{F, U, Unsupported},
		{U, S, Unsupported},
		{U, M, Unsupported},
	} {
		if got := Classify(tc.base, tc.patched); got != tc.want {
			t.Errorf("Classify(%s, %s) = %s, want %s", tc.base, tc.patched, got, tc.want)
		}
	}
}

func TestCases(t *testing.T) {
	eperm := &result.Answer{Errno: "EPERM"}
	pid := &result.Answer{PID: 4000, NSpid: []int{4000}}
	base := []result.Case{
		{ID: "a", Group: "g", Outcome: result.Pass, Expected: eperm, Observed: eperm},
		{ID: "b", Outcome: result.Unsupported, Reason: "no set_tid"},
		{ID: "only-base", Outcome: result.Pass},
	}
	patched := []result.Case{
		{ID: "only-patched", Outcome: result.Fail},
		{ID: "b", Outcome: result.Pass, Expected: pid, Observed: pid},
		{ID: "a", Group: "g", Outcome: result.Fail, Expected: eperm, Observed: pid},
	}
	cs := Cases(base, patched)
	var got []string
	for _, c := range cs {
		got = append(got, c.ID+":"+string(c.Base)+">"+string(c.Patched)+"="+string(c.Verdict))
	}
	want := []string{
		"a:pass>fail=regressed",
		"b:unsupported>pass=newly-supported",
		"only-base:pass>missing=regressed",
		"only-patched:missing>fail=regressed",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Cases:\n got %v\nwant %v", got, want)
	}
	if cs[0].Expected != "EPERM" || cs[0].BaseObserved != "EPERM" || cs[0].PatchedObserved != pid.String() {
		t.Errorf("answers not carried: %+v", cs[0])
	}
	if cs[1].BaseReason != "no set_tid" {
		t.Errorf("base reason not carried: %+v", cs[1])
	}
	if r := Regressions(cs); strings.Join(r, ",") != "a,only-base,only-patched" {
		t.Errorf("Regressions = %v", r)
	}
	if s := SummaryLine(cs); s != "4 cases: 3 regressed, 1 newly-supported" {
		t.Errorf("SummaryLine = %q", s)
	}
}

func TestMarkdownAndTable(t *testing.T) {
	cs := Cases(
		[]result.Case{{ID: "x/ok", Outcome: result.Pass}, {ID: "x/new", Outcome: result.Unsupported, Reason: "E2BIG | probe"}},
		[]result.Case{{ID: "x/ok", Outcome: result.Pass}, {ID: "x/new", Outcome: result.Pass, Observed: &result.Answer{Errno: "EINVAL"}}},
	)
	var md bytes.Buffer
	Markdown(&md, Side{Label: "base", Kernel: "6.1.0", Source: "build:patch=p", Summary: map[result.Outcome]int{result.Pass: 1, result.Unsupported: 1}},
		Side{Label: "patched", Kernel: "6.1.1", Source: "build", Summary: map[result.Outcome]int{result.Pass: 2}}, cs)
	for _, want := range []string{
		"| base | `6.1.0` | `build:patch=p` | 1 pass, 1 unsupported |",
		"**2 cases: 1 newly-supported, 1 unchanged-pass**",
		"#### newly-supported (1)",
		"| `x/new` | unsupported | pass | - | E2BIG \\| probe | EINVAL |",
		"1 cases pass on both kernels.",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	if strings.Contains(md.String(), "`x/ok`") {
		t.Errorf("unchanged passes must be folded into a count, not listed")
	}
	var tb bytes.Buffer
	Table(&tb, cs)
	lines := strings.Split(strings.TrimSpace(tb.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "CASE") || strings.Join(strings.Fields(lines[2]), " ") != "x/new unsupported pass newly-supported" {
		t.Errorf("Table:\n%s", tb.String())
	}
}

func TestConfirm(t *testing.T) {
	const (
		P = result.Pass
		F = result.Fail
		E = result.Error
		U = result.Unsupported
	)
	type side = map[string]result.Outcome
	// One regressed case "c", base pass and patched fail (or error) at
	// first; each test gives the re-runs' outcomes.
	for _, tc := range []struct {
		name          string
		first         result.Outcome // patched's first outcome
		rounds        []Rerun
		want          Verdict
		base, patched string // the re-runs recorded
	}{
		{"no re-run", F, nil, Regressed, "", ""},
		{"confirmed once", F, []Rerun{{side{"c": P}, side{"c": F}}}, Regressed, "pass", "fail"},
		{"confirmed three times", F, []Rerun{{side{"c": P}, side{"c": F}}, {side{"c": P}, side{"c": F}}, {side{"c": P}, side{"c": F}}}, Regressed, "pass pass pass", "fail fail fail"},
		{"patched passes on re-run", F, []Rerun{{side{"c": P}, side{"c": P}}}, Flaky, "pass", "pass"},
		{"patched passes the second time", F, []Rerun{{side{"c": P}, side{"c": F}}, {side{"c": P}, side{"c": P}}}, Flaky, "pass pass", "fail pass"},
		{"base fails on re-run", F, []Rerun{{side{"c": F}, side{"c": F}}}, Flaky, "fail", "fail"},
		// A harness error (a stalled case) that does not come back is a
		// flake, not a regression.
		{"error once", E, []Rerun{{side{"c": P}, side{"c": P}}}, Flaky, "pass", "pass"},
		{"error every time", E, []Rerun{{side{"c": P}, side{"c": E}}}, Regressed, "pass", "error"},
		{"error then fail", E, []Rerun{{side{"c": P}, side{"c": F}}}, Flaky, "pass", "fail"},
		{"not reported on re-run", F, []Rerun{{side{"c": P}, side{}}}, Flaky, "pass", "missing"},
		// An earlier result directory is not re-run: its outcome stands.
		{"base from a result directory", F, []Rerun{{nil, side{"c": F}}}, Regressed, "", "fail"},
		{"base from a result directory, flaky", F, []Rerun{{nil, side{"c": P}}}, Flaky, "", "pass"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := Cases(
				[]result.Case{{ID: "c", Outcome: P}, {ID: "ok", Outcome: P}, {ID: "u", Outcome: U}},
				[]result.Case{{ID: "c", Outcome: tc.first}, {ID: "ok", Outcome: P}, {ID: "u", Outcome: P}})
			got := Confirm(cs, tc.rounds)
			if got[0].Verdict != tc.want {
				t.Errorf("verdict %s, want %s", got[0].Verdict, tc.want)
			}
			join := func(os []result.Outcome) string {
				var s []string
				for _, o := range os {
					s = append(s, string(o))
				}
				return strings.Join(s, " ")
			}
			if join(got[0].BaseReruns) != tc.base || join(got[0].PatchedReruns) != tc.patched {
				t.Errorf("re-runs base %q patched %q, want %q and %q", join(got[0].BaseReruns), join(got[0].PatchedReruns), tc.base, tc.patched)
			}
			if got[1].Verdict != UnchangedPass || got[2].Verdict != NewlySupported || got[1].PatchedReruns != nil {
				t.Errorf("cases that did not regress were changed: %+v %+v", got[1], got[2])
			}
			if cs[0].Verdict != Regressed {
				t.Error("Confirm changed its argument")
			}
			wantRegressions := ""
			if tc.want == Regressed {
				wantRegressions = "c"
			}
			if r := strings.Join(Regressions(got), ","); r != wantRegressions {
				t.Errorf("Regressions = %q, want %q", r, wantRegressions)
			}
		})
	}
}

func TestTableShowsReruns(t *testing.T) {
	cs := Confirm(Cases([]result.Case{{ID: "c", Outcome: result.Pass}}, []result.Case{{ID: "c", Outcome: result.Error}}),
		[]Rerun{{map[string]result.Outcome{"c": result.Pass}, map[string]result.Outcome{"c": result.Pass}}})
	var tb bytes.Buffer
	Table(&tb, cs)
	if !strings.Contains(tb.String(), "flaky (re-run: base pass, patched pass)") {
		t.Errorf("Table does not show the re-runs:\n%s", tb.String())
	}
	if s := SummaryLine(cs); s != "1 cases: 1 flaky" {
		t.Errorf("SummaryLine = %q", s)
	}
}
