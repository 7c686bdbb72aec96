// Package htmlreport renders a run, a comparison or a mutation run as one
// self-contained HTML page (report.html): a summary, a filterable table of
// the cases with their rule, expected and observed answers, the crash
// excerpt, timings and the QEMU command line, and for a comparison both
// kernels' verdicts side by side; for a mutation run the score, the
// counts per outcome and operator, each survivor's diff and a filterable
// table of the mutants. Styles and the filter script are inline and
// nothing is fetched, so the file can be archived by CI and opened
// anywhere.
//
// The filter state lives in the URL fragment (#outcome=fail&q=userns),
// so a link can point at the failures, and a test can load the page with
// a filter applied and read the rows headless.
package htmlreport

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"

	"github.com/vmtest/vmtest/host/compare"
	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/result"
)

//go:embed *.html.tmpl
var files embed.FS

var page = template.Must(template.New("page.html.tmpl").Funcs(template.FuncMap{
	"seconds": func(ms float64) string { return fmt.Sprintf("%.1f s", ms/1000) },
	// breakable lets a case ID wrap only after its slashes: a narrow
	// column then shows set_tid/nested/ on one line, not "set_ti" on one.
	"breakable": func(id string) template.HTML {
		return template.HTML(strings.ReplaceAll(template.HTMLEscapeString(id), "/", "/<wbr>"))
	},
	"diff": diffHTML,
}).ParseFS(files, "*.html.tmpl"))

// RunPage is what a run's page shows.
type RunPage struct {
	Result *run.Result
	// Build is the manifest when vmtest built the kernel, else nil.
	Build *kbuild.Manifest
	// Flaky maps the IDs of cases whose outcome varied between boots to
	// the outcomes ("pass fail pass").
	Flaky map[string]string
}

// ComparedSide is one kernel of a comparison.
type ComparedSide struct {
	Label  string
	Source string
	Result *run.Result
	Build  *kbuild.Manifest
}

// ComparePage is what a comparison's page shows.
type ComparePage struct {
	Base, Patched ComparedSide
	Cases         []compare.Case
	ConfirmRounds int
}

// view is the template's data: one shape for both pages.
type view struct {
	Title      string
	Comparison bool
	Sides      []sideView
	// Counts are the tiles at the top: outcomes of a run, verdicts of a
	// comparison, in report order.
	Counts []count
	// Filters are the values the outcome/verdict filter offers.
	Filters []string
	Rows    []row
	Summary string
	Confirm int
}

type sideView struct {
	Label, Source string
	Result        *run.Result
	Build         *kbuild.Manifest
	Guest         []keyValue
}

type keyValue struct{ Key, Value string }

type count struct {
	Name  string
	N     int
	Class string
}

// row is one case of the table. State is the outcome (run) or verdict
// (comparison) the filter and the colour go by.
type row struct {
	ID, Group, Rule, State, Class string
	Expected, Observed, Note      string
	Duration                      string
	// Comparison columns.
	Base, Patched                   string
	BaseObserved, PatchedObserved   string
	BaseClass, PatchedClass, Reruns string
	Flaky                           string
}

// Run renders a run's page.
func Run(w io.Writer, p RunPage) error {
	res := p.Result
	if res == nil {
		return fmt.Errorf("render report.html: no result")
	}
	v := view{
		Title: "vmtest " + res.Kernel.Release + ": " + string(res.Status),
		Sides: []sideView{side("run", "", res, p.Build)},
	}
	n := map[result.Outcome]int{}
	for _, c := range res.Cases {
		n[c.Outcome]++
		r := row{
			ID: c.ID, Group: c.Group, Rule: c.Rule, State: string(c.Outcome), Class: outcomeClass(c.Outcome),
			Expected: answer(c.Expected), Observed: answer(c.Observed), Note: note(c),
			Duration: fmt.Sprintf("%.1f", c.DurationMS), Flaky: p.Flaky[c.ID],
		}
		v.Rows = append(v.Rows, r)
	}
	for _, o := range []result.Outcome{result.Fail, result.Error, result.Pass, result.Skip, result.Unsupported} {
		v.Counts = append(v.Counts, count{Name: string(o), N: n[o], Class: outcomeClass(o)})
		v.Filters = append(v.Filters, string(o))
	}
	if len(p.Flaky) > 0 {
		v.Counts = append(v.Counts, count{Name: "flaky", N: len(p.Flaky), Class: "flaky"})
		v.Filters = append(v.Filters, "flaky")
	}
	v.Summary = fmt.Sprintf("%d cases: %d pass, %d fail, %d error, %d skip, %d unsupported", len(res.Cases), n[result.Pass], n[result.Fail], n[result.Error], n[result.Skip], n[result.Unsupported])
	return render(w, v)
}

// Comparison renders a comparison's page.
func Comparison(w io.Writer, p ComparePage) error {
	if p.Base.Result == nil || p.Patched.Result == nil {
		return fmt.Errorf("render report.html: a comparison needs both sides' results")
	}
	v := view{
		Title:      "vmtest compare: " + p.Base.Result.Kernel.Release + " vs " + p.Patched.Result.Kernel.Release,
		Comparison: true, Confirm: p.ConfirmRounds,
		Sides: []sideView{side(p.Base.Label, p.Base.Source, p.Base.Result, p.Base.Build),
			side(p.Patched.Label, p.Patched.Source, p.Patched.Result, p.Patched.Build)},
		Summary: compare.SummaryLine(p.Cases),
	}
	rules := map[string]string{}
	for _, res := range []*run.Result{p.Base.Result, p.Patched.Result} {
		for _, c := range res.Cases {
			if c.Rule != "" {
				rules[c.ID] = c.Rule
			}
		}
	}
	n := compare.Count(p.Cases)
	for _, verdict := range compare.Order {
		v.Counts = append(v.Counts, count{Name: string(verdict), N: n[verdict], Class: verdictClass(verdict)})
		v.Filters = append(v.Filters, string(verdict))
	}
	for _, c := range p.Cases {
		r := row{
			ID: c.ID, Group: c.Group, Rule: rules[c.ID], State: string(c.Verdict), Class: verdictClass(c.Verdict),
			Expected: c.Expected, Base: string(c.Base), Patched: string(c.Patched),
			BaseClass: outcomeClass(c.Base), PatchedClass: outcomeClass(c.Patched),
			BaseObserved: or(c.BaseObserved, c.BaseReason), PatchedObserved: or(c.PatchedObserved, c.PatchedReason),
			Reruns: reruns(c),
		}
		v.Rows = append(v.Rows, r)
	}
	return render(w, v)
}

func render(w io.Writer, v view) error {
	if err := page.ExecuteTemplate(w, "page.html.tmpl", v); err != nil {
		return fmt.Errorf("render report.html: %w", err)
	}
	return nil
}

func side(label, source string, res *run.Result, m *kbuild.Manifest) sideView {
	s := sideView{Label: label, Source: source, Result: res, Build: m}
	keys := make([]string, 0, len(res.Guest))
	for k := range res.Guest {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		s.Guest = append(s.Guest, keyValue{k, res.Guest[k]})
	}
	return s
}

// note is the last column of a run's row: why a case did not pass, or
// what a passing case reported for information.
func note(c result.Case) string {
	if c.Outcome == result.Pass {
		return c.Info
	}
	if c.Info != "" && c.Reason != "" {
		return c.Reason + " (" + c.Info + ")"
	}
	return or(c.Reason, c.Info)
}

func reruns(c compare.Case) string {
	var parts []string
	if len(c.BaseReruns) > 0 {
		parts = append(parts, "base: "+joinOutcomes(c.BaseReruns))
	}
	if len(c.PatchedReruns) > 0 {
		parts = append(parts, "patched: "+joinOutcomes(c.PatchedReruns))
	}
	return strings.Join(parts, "; ")
}

func joinOutcomes(os []result.Outcome) string {
	var s []string
	for _, o := range os {
		s = append(s, string(o))
	}
	return strings.Join(s, " ")
}

func outcomeClass(o result.Outcome) string {
	switch o {
	case result.Pass:
		return "good"
	case result.Fail, result.Error:
		return "bad"
	case compare.Missing:
		return "missing"
	}
	return "neutral"
}

func verdictClass(v compare.Verdict) string {
	switch v {
	case compare.Regressed:
		return "bad"
	case compare.StillFailing:
		return "bad-ish"
	case compare.Flaky:
		return "flaky"
	case compare.Fixed, compare.NewlySupported, compare.UnchangedPass:
		return "good"
	}
	return "neutral"
}

func answer(a *result.Answer) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
