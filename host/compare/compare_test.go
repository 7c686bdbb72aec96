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
