package compare

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/inputerr"
	"github.com/vmtest/vmtest/internal/result"
)

// steps scripts a series' results: each string is one step, a letter
// per case (p pass, f fail, e error, u unsupported, - not run).
func steps(ss ...string) [][]result.Case {
	letters := map[byte]result.Outcome{'p': result.Pass, 'f': result.Fail, 'e': result.Error, 'u': result.Unsupported}
	var out [][]result.Case
	for _, s := range ss {
		var cs []result.Case
		for i := range len(s) {
			if s[i] != '-' {
				cs = append(cs, result.Case{ID: string(rune('a' + i)), Outcome: letters[s[i]]})
			}
		}
		out = append(out, cs)
	}
	return out
}

func TestSeriesCases(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps [][]result.Case
		// want: per case, "patch:verdict" of each change, and the
		// series' verdict last.
		want map[string]string
	}{
		{"nothing changes", steps("pp", "pp", "pp"), map[string]string{"a": "unchanged-pass", "b": "unchanged-pass"}},
		{"patch 2 breaks a, patch 3 fixes it", steps("pp", "pp", "fp", "pp"), map[string]string{"a": "2:regressed 3:fixed unchanged-pass", "b": "unchanged-pass"}},
		{"patch 1 fixes b, patch 2 breaks a", steps("pf", "pp", "fp"), map[string]string{"a": "2:regressed regressed", "b": "1:fixed fixed"}},
		{"fail to error is still failing", steps("f", "e"), map[string]string{"a": "1:still-failing still-failing"}},
		{"a case only a later step runs", steps("p-", "pp"), map[string]string{"a": "unchanged-pass", "b": "1:newly-supported newly-supported"}},
		{"a case a patch loses", steps("pp", "p-"), map[string]string{"a": "unchanged-pass", "b": "1:regressed regressed"}},
		{"unsupported then supported", steps("u", "u", "p"), map[string]string{"a": "2:newly-supported newly-supported"}},
	} {
		got := SeriesCases(tc.steps)
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d cases, want %d", tc.name, len(got), len(tc.want))
		}
		for _, c := range got {
			var parts []string
			for _, ch := range c.Changes {
				parts = append(parts, strings.Join([]string{string(rune('0' + ch.Patch)), string(ch.Verdict)}, ":"))
				if ch.From != c.Outcomes[ch.Patch-1] || ch.To != c.Outcomes[ch.Patch] {
					t.Errorf("%s: %s: change %+v does not match outcomes %v", tc.name, c.ID, ch, c.Outcomes)
				}
			}
			parts = append(parts, string(c.Verdict))
			if s := strings.Join(parts, " "); s != tc.want[c.ID] {
				t.Errorf("%s: %s: %q, want %q", tc.name, c.ID, s, tc.want[c.ID])
			}
			if len(c.Outcomes) != len(tc.steps) {
				t.Errorf("%s: %s: %d outcomes for %d steps", tc.name, c.ID, len(c.Outcomes), len(tc.steps))
			}
		}
	}
}

func TestSeriesReport(t *testing.T) {
	s := &Series{Steps: []SeriesStep{{Patches: 0, Status: run.Completed}, {Patches: 1, Subject: "pid: one", Status: run.Completed}, {Patches: 2, Subject: "pid: two", Status: run.Completed}}}
	s.Cases = SeriesCases(steps("pp", "pp", "fp"))
	if r := seriesRegressions(s.Cases); !slices.Equal(r, []string{"a"}) {
		t.Errorf("regressions %v, want [a]", r)
	}
	var table, md bytes.Buffer
	SeriesTable(&table, s)
	seriesMarkdown(&md, s)
	for _, want := range []string{"patch 2 (pass -> fail, regressed)", "1 of 2 cases changed over 2 patch(es)", "patch 2: pid: two"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	for _, want := range []string{"| `a` | pass | pass | fail | 2 (regressed) |", "| 2 | 2: pid: two |", "1 of 2 cases changed; 1 unchanged"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("series.md lacks %q:\n%s", want, md.String())
		}
	}
	if strings.Contains(table.String(), "\nb ") {
		t.Errorf("the table shows unchanged case b:\n%s", table.String())
	}
}

// TestRunSeriesInput: a kernel without a series is bad input, refused
// before anything is built.
func TestRunSeriesInput(t *testing.T) {
	for _, k := range []*run.KernelRef{nil, {Kind: run.KernelImage, Image: "bzImage"}, {Kind: run.KernelBuild, Spec: kbuild.Spec{Tree: "t"}}} {
		_, _, err := RunSeries(context.Background(), k, Options{})
		if !errors.Is(err, inputerr.ErrBadInput) || !strings.Contains(err.Error(), "--each-patch needs a build spec") {
			t.Errorf("%+v: %v, want bad input", k, err)
		}
	}
}
