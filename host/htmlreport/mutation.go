package htmlreport

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmtest/vmtest/host/mutate"
	"github.com/vmtest/vmtest/internal/atomicfile"
)

// File is the name of the page in a result directory.
const File = "report.html"

// MutationPage is what a mutation run's page shows: mutate.json's report.
type MutationPage struct {
	Report *mutate.Report
}

// mutationView is the mutation template's data.
type mutationView struct {
	Title, Summary string
	// Score is "93.3 %", or "no score" when nothing was scored.
	Score      string
	ScoreClass string
	Targets    []string
	Kernel     string
	Tree       string
	Counts     []count
	Filters    []string
	Operators  []operatorRow
	// Survivors are those no explanation accounts for, Explained the
	// rest (they still count as survivors in the score).
	Survivors, Explained []mutantRow
	Rows                 []mutantRow
	// Unused are explanations that matched no mutant.
	Unused []mutate.Explanation
}

type operatorRow struct {
	Name   string
	Counts mutate.Counts
	Score  string
}

// mutantRow is one mutant of the table.
type mutantRow struct {
	ID, Operator, Where, Func, Rule string
	State, Class                    string
	Explanation                     string
	CasesRun                        int
	// Killers are the first few killers, More the rest.
	Killers, More []string
	Detail, Diff  string
}

// mutationOutcomes are the outcomes in the order the tiles show them:
// what the score is made of first, then what it leaves out.
var mutationOutcomes = []mutate.Outcome{mutate.Killed, mutate.Survived, mutate.Stillborn, mutate.Equivalent, mutate.Duplicate, mutate.Error}

// shownKillers is how many killers a row shows before "N more": the
// rest are folded away but still found by the filter.
const shownKillers = 3

// States of the filter besides the outcomes: a mutant a stopped run did
// not decide, and survivors with and without an explanation (rows carry
// data-explained or data-unexplained).
const (
	pending     = "pending"
	explained   = "explained"
	unexplained = "unexplained"
)

// Mutation renders a mutation run's page: the score, the count of every
// outcome, the counts per operator, each survivor with its rule and diff,
// and a filterable table of every mutant.
func Mutation(w io.Writer, p MutationPage) error {
	r := p.Report
	if r == nil {
		return fmt.Errorf("render %s: no mutation report", File)
	}
	c := r.Counts
	v := mutationView{
		Title:   "vmtest mutate: " + strings.Join(r.Targets, ", "),
		Targets: r.Targets, Tree: r.Tree, Kernel: r.Kernel, Unused: r.UnusedExplanations,
		Score: "no score", ScoreClass: "neutral",
	}
	if c.Scored() > 0 {
		v.Score = percent(c.Killed, c.Scored())
		v.ScoreClass = "good"
		if c.Survived > 0 {
			v.ScoreClass = "bad-ish"
		}
		v.Summary = fmt.Sprintf("score %s: %d killed of %d scored", v.Score, c.Killed, c.Scored())
		if c.Explained > 0 {
			v.Summary += fmt.Sprintf(" (%d survivors, %d of them explained as equivalent in behaviour)", c.Survived, c.Explained)
		}
	} else {
		v.Summary = "no score: no mutant was run to a verdict"
	}
	v.Summary += fmt.Sprintf(" · %d mutants: %d stillborn, %d equivalent, %d duplicates, %d errors", c.Total, c.Stillborn, c.Equivalent, c.Duplicate, c.Error)
	n := map[mutate.Outcome]int{mutate.Killed: c.Killed, mutate.Survived: c.Survived, mutate.Stillborn: c.Stillborn,
		mutate.Equivalent: c.Equivalent, mutate.Duplicate: c.Duplicate, mutate.Error: c.Error}
	for _, o := range mutationOutcomes {
		v.Counts = append(v.Counts, count{Name: string(o), N: n[o], Class: mutationClass(o)})
		v.Filters = append(v.Filters, string(o))
		if o == mutate.Survived && c.Explained > 0 {
			// Of the survivors: those explained, and the rest, which
			// are the rules no test checks.
			v.Counts = append(v.Counts, count{Name: explained, N: c.Explained, Class: "neutral"})
			v.Filters = append(v.Filters, explained, unexplained)
		}
	}
	if c.Pending > 0 {
		v.Summary += fmt.Sprintf(", %d pending (the run was stopped)", c.Pending)
		v.Counts = append(v.Counts, count{Name: pending, N: c.Pending, Class: "neutral"})
		v.Filters = append(v.Filters, pending)
	}
	for _, op := range mutate.OperatorNames() {
		oc, ok := r.PerOperator[op]
		if !ok {
			continue
		}
		s := "–"
		if oc.Scored() > 0 {
			s = percent(oc.Killed, oc.Scored())
		}
		v.Operators = append(v.Operators, operatorRow{Name: op, Counts: oc, Score: s})
	}
	for _, m := range r.Mutants {
		row := mutantRow{
			ID: m.ID, Operator: m.Operator, Where: fmt.Sprintf("%s:%d", m.File, m.Line), Func: m.Func, Rule: m.Rule,
			State: string(m.Outcome), Class: mutationClass(m.Outcome), Detail: m.Detail, Diff: m.Diff,
			Explanation: m.Explanation, CasesRun: m.CasesRun,
		}
		if row.State == "" {
			row.State = pending
		}
		row.Killers = m.Killers
		if len(m.Killers) > shownKillers {
			row.Killers, row.More = m.Killers[:shownKillers], m.Killers[shownKillers:]
		}
		if m.DuplicateOf != "" && row.Detail == "" {
			row.Detail = "same object code as " + m.DuplicateOf
		}
		v.Rows = append(v.Rows, row)
		switch {
		case m.Outcome == mutate.Survived && m.Explanation != "":
			v.Explained = append(v.Explained, row)
		case m.Outcome == mutate.Survived:
			v.Survivors = append(v.Survivors, row)
		}
	}
	if err := page.ExecuteTemplate(w, "mutation.html.tmpl", v); err != nil {
		return fmt.Errorf("render %s: %w", File, err)
	}
	return nil
}

// WriteMutation writes dir/report.html for the report, whole or not at
// all: vmtest mutate and vmtest merge call it beside mutate.json.
func WriteMutation(dir string, r *mutate.Report) error {
	var b bytes.Buffer
	if err := Mutation(&b, MutationPage{Report: r}); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", File, err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, File), b.Bytes(), 0o644)
}

func percent(n, of int) string {
	return fmt.Sprintf("%.1f %%", 100*float64(n)/float64(of))
}

// mutationClass colours an outcome from the tests' side: a killed mutant
// is the tests working, a survivor a rule nobody checks.
func mutationClass(o mutate.Outcome) string {
	switch o {
	case mutate.Killed:
		return "good"
	case mutate.Survived:
		return "bad"
	case mutate.Error:
		return "flaky"
	}
	return "neutral"
}

// diffHTML marks a unified diff's lines: added, removed, hunk headers.
func diffHTML(d string) template.HTML {
	var b strings.Builder
	for _, l := range strings.SplitAfter(d, "\n") {
		if l == "" {
			continue
		}
		class := ""
		switch {
		case strings.HasPrefix(l, "+++"), strings.HasPrefix(l, "---"), strings.HasPrefix(l, "@@"):
			class = "hunk"
		case strings.HasPrefix(l, "+"):
			class = "add"
		case strings.HasPrefix(l, "-"):
			class = "del"
		}
		text := template.HTMLEscapeString(strings.TrimSuffix(l, "\n"))
		if class != "" {
			text = `<span class="` + class + `">` + text + `</span>`
		}
		b.WriteString(text)
		if strings.HasSuffix(l, "\n") {
			b.WriteByte('\n')
		}
	}
	return template.HTML(b.String())
}
