// Package compare classifies what a patch changed: it sets the matrix
// result of the base kernel beside that of the patched kernel, case by
// case, and renders the verdicts as a table, JSON and Markdown for a
// review reply.
package compare

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/vmtest/vmtest/internal/result"
)

// Verdict is what the patch did to one case.
type Verdict string

// The verdicts, from the patched kernel's point of view.
const (
	Fixed          Verdict = "fixed"           // failed on base, passes patched
	NewlySupported Verdict = "newly-supported" // unsupported or skipped on base, passes patched
	Regressed      Verdict = "regressed"       // passed (or could not run) on base, fails patched; or passed and is lost
	StillFailing   Verdict = "still-failing"   // fails on both
	UnchangedPass  Verdict = "unchanged-pass"  // passes on both
	Unsupported    Verdict = "unsupported"     // cannot run on the patched kernel, and did not pass on base
	// Flaky: the first comparison said regressed, but a re-run of the case
	// in fresh VMs gave another outcome on one side (see Confirm).
	Flaky Verdict = "flaky"
)

// Order is the order verdicts are reported in: what needs attention first.
var Order = []Verdict{Regressed, Flaky, StillFailing, Fixed, NewlySupported, Unsupported, UnchangedPass}

// Missing is the outcome shown for a case one side did not run (an
// earlier result from another matrix version).
const Missing result.Outcome = "missing"

// Classify maps (base, patched) outcomes to a verdict. A case that passed
// on base and no longer runs on the patched kernel is a regression: the
// patch lost something the base had.
func Classify(base, patched result.Outcome) Verdict {
	switch {
	case patched == result.Pass && base == result.Pass:
		return UnchangedPass
	case patched == result.Pass && base.Failed():
		return Fixed
	case patched == result.Pass:
		return NewlySupported
	case patched.Failed() && base.Failed():
		return StillFailing
	case patched.Failed():
		return Regressed
	case base == result.Pass: // patched no longer runs it
		return Regressed
	default:
		return Unsupported
	}
}

// Case is one row of the comparison.
type Case struct {
	ID      string         `json:"id"`
	Group   string         `json:"group,omitempty"`
	Base    result.Outcome `json:"base"`
	Patched result.Outcome `json:"patched"`
	Verdict Verdict        `json:"verdict"`
	// The expected and observed answers on each side, for the review.
	Expected        string `json:"expected,omitempty"`
	BaseObserved    string `json:"base_observed,omitempty"`
	PatchedObserved string `json:"patched_observed,omitempty"`
	BaseReason      string `json:"base_reason,omitempty"`
	PatchedReason   string `json:"patched_reason,omitempty"`
	// The outcomes of the confirmation re-runs of a case that regressed
	// (empty for a side that was not re-run, an earlier result directory).
	BaseReruns    []result.Outcome `json:"base_reruns,omitempty"`
	PatchedReruns []result.Outcome `json:"patched_reruns,omitempty"`
}

// Cases compares two case lists. The order is base's, then any case only
// the patched run has.
func Cases(base, patched []result.Case) []Case {
	pm := map[string]result.Case{}
	for _, c := range patched {
		pm[c.ID] = c
	}
	seen := map[string]bool{}
	var out []Case
	add := func(b, p *result.Case, id string) {
		c := Case{ID: id, Base: Missing, Patched: Missing}
		if b != nil {
			c.Base, c.Group, c.BaseObserved, c.BaseReason = b.Outcome, b.Group, answer(b.Observed), b.Reason
			c.Expected = answer(b.Expected)
		}
		if p != nil {
			c.Patched, c.Group, c.PatchedObserved, c.PatchedReason = p.Outcome, p.Group, answer(p.Observed), p.Reason
			if e := answer(p.Expected); e != "" {
				c.Expected = e
			}
		}
		c.Verdict = Classify(c.Base, c.Patched)
		out = append(out, c)
	}
	for i := range base {
		b := base[i]
		seen[b.ID] = true
		if p, ok := pm[b.ID]; ok {
			add(&b, &p, b.ID)
		} else {
			add(&b, nil, b.ID)
		}
	}
	for i := range patched {
		if p := patched[i]; !seen[p.ID] {
			add(nil, &p, p.ID)
		}
	}
	return out
}

func answer(a *result.Answer) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Count tallies verdicts.
func Count(cs []Case) map[Verdict]int {
	n := map[Verdict]int{}
	for _, c := range cs {
		n[c.Verdict]++
	}
	return n
}

// Regressions returns the IDs of regressed cases.
func Regressions(cs []Case) []string {
	var ids []string
	for _, c := range cs {
		if c.Verdict == Regressed {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Rerun is one confirmation round: each re-run case's outcome on each
// side, by ID. A side that was not re-run is nil: its first outcome
// stands.
type Rerun struct {
	Base, Patched map[string]result.Outcome
}

// Confirm re-judges the regressed cases against confirmation rounds, in
// which each was run again in fresh VMs on both kernels. A regression
// stands only when every round gives both sides the outcomes the first
// comparison saw; any other answer makes the case flaky, which is not a
// regression. A case a round does not report is missing there, which
// disagrees too. The rounds' outcomes are kept in the case.
func Confirm(cs []Case, rounds []Rerun) []Case {
	out := append([]Case(nil), cs...)
	for i := range out {
		c := &out[i]
		if c.Verdict != Regressed || len(rounds) == 0 {
			continue
		}
		agree := true
		check := func(m map[string]result.Outcome, first result.Outcome, into *[]result.Outcome) {
			if m == nil {
				return
			}
			o, ok := m[c.ID]
			if !ok {
				o = Missing
			}
			*into = append(*into, o)
			if o != first {
				agree = false
			}
		}
		for _, r := range rounds {
			check(r.Base, c.Base, &c.BaseReruns)
			check(r.Patched, c.Patched, &c.PatchedReruns)
		}
		if !agree {
			c.Verdict = Flaky
		}
	}
	return out
}

// SummaryLine is "N cases: 3 regressed, 57 newly-supported, ..." in Order.
func SummaryLine(cs []Case) string {
	n := Count(cs)
	var parts []string
	for _, v := range Order {
		if n[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n[v], v))
		}
	}
	return fmt.Sprintf("%d cases: %s", len(cs), strings.Join(parts, ", "))
}

// Table prints one line per case: ID, base, patched, verdict.
func Table(w io.Writer, cs []Case) {
	width := len("CASE")
	for _, c := range cs {
		width = max(width, len(c.ID))
	}
	fmt.Fprintf(w, "%-*s  %-11s  %-11s  %s\n", width, "CASE", "BASE", "PATCHED", "VERDICT")
	for _, c := range cs {
		fmt.Fprintf(w, "%-*s  %-11s  %-11s  %s%s\n", width, c.ID, c.Base, c.Patched, c.Verdict, reruns(c))
	}
}

// Side names one kernel of a comparison for the Markdown header.
type Side struct {
	Label   string // "base" or "patched"
	Kernel  string // release string
	Source  string // bzImage path, build spec or result directory
	Accel   string
	Summary map[result.Outcome]int
}

// Markdown writes a summary ready to paste into a review reply: verdict
// counts, every case that changed or fails with its answers, and the
// unchanged passes folded into a count.
func Markdown(w io.Writer, base, patched Side, cs []Case) {
	fmt.Fprintf(w, "### vmtest: clone3() set_tid matrix, base vs patched\n\n")
	fmt.Fprintf(w, "| | kernel | source | outcomes |\n|---|---|---|---|\n")
	for _, s := range []Side{base, patched} {
		fmt.Fprintf(w, "| %s | `%s` | `%s` | %s |\n", s.Label, s.Kernel, s.Source, outcomes(s.Summary))
	}
	fmt.Fprintf(w, "\n**%s**\n", SummaryLine(cs))
	n := Count(cs)
	for _, v := range Order {
		if v == UnchangedPass || n[v] == 0 {
			continue
		}
		fmt.Fprintf(w, "\n#### %s (%d)\n\n| case | base | patched | expected | base saw | patched saw |\n|---|---|---|---|---|---|\n", v, n[v])
		for _, c := range cs {
			if c.Verdict == v {
				fmt.Fprintf(w, "| `%s` | %s | %s | %s | %s | %s |\n", c.ID, c.Base, c.Patched, cell(c.Expected), cell(or(c.BaseObserved, c.BaseReason)), cell(or(c.PatchedObserved, c.PatchedReason)+reruns(c)))
			}
		}
	}
	if n[UnchangedPass] > 0 {
		fmt.Fprintf(w, "\n%d cases pass on both kernels.\n", n[UnchangedPass])
	}
}

// reruns describes a case's confirmation re-runs: " (re-run: base pass
// pass, patched fail pass)", or "" when there were none.
func reruns(c Case) string {
	var parts []string
	for _, side := range []struct {
		label string
		os    []result.Outcome
	}{{"base", c.BaseReruns}, {"patched", c.PatchedReruns}} {
		if len(side.os) == 0 {
			continue
		}
		var s []string
		for _, o := range side.os {
			s = append(s, string(o))
		}
		parts = append(parts, side.label+" "+strings.Join(s, " "))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (re-run: " + strings.Join(parts, ", ") + ")"
}

func outcomes(m map[result.Outcome]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", m[result.Outcome(k)], k))
	}
	return strings.Join(parts, ", ")
}

func cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// or returns a, or b when a is empty: an unsupported case has no
// observed answer, and its reason is what the reviewer needs to see.
func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
