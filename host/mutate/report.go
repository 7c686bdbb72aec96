package mutate

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmtest/vmtest/internal/catalog"
)

// explainedTitle heads the survivors an --explain file accounts for.
const explainedTitle = "Survivors with an explanation"

// casesRun says which cases a survivor's run passed: its result
// directory holds result.json with each.
func casesRun(m Result) string {
	if m.CasesRun > 0 {
		return fmt.Sprintf("%d, all passed (%s/result.json)", m.CasesRun, m.ResultDir)
	}
	return "see " + m.ResultDir
}

// Counts tallies outcomes.
type Counts struct {
	Total      int `json:"total"`
	Stillborn  int `json:"stillborn"`
	Equivalent int `json:"equivalent"`
	Duplicate  int `json:"duplicate"`
	Killed     int `json:"killed"`
	Survived   int `json:"survived"`
	// Explained are the survivors with an explanation (of Survived).
	Explained int `json:"explained"`
	Error     int `json:"error"`
	// Pending are mutants not decided (the run was stopped).
	Pending int `json:"pending"`
}

func (c *Counts) add(r Result) {
	c.Total++
	switch r.Outcome {
	case Stillborn:
		c.Stillborn++
	case Equivalent:
		c.Equivalent++
	case Duplicate:
		c.Duplicate++
	case Killed:
		c.Killed++
	case Survived:
		c.Survived++
		if r.Explanation != "" {
			c.Explained++
		}
	case Error:
		c.Error++
	default:
		c.Pending++
	}
}

// Scored is the score's denominator: the mutants that were run and told
// something, killed or survived. Stillborn and equivalent mutants are no
// test of anything; a duplicate is the mutant it folds into; an error or
// pending one has no verdict.
func (c Counts) Scored() int { return c.Killed + c.Survived }

// Score is killed/(killed+survived), or -1 when nothing was scored.
func (c Counts) Score() float64 {
	if c.Scored() == 0 {
		return -1
	}
	return float64(c.Killed) / float64(c.Scored())
}

// Report is mutate.json (its schema: docs/mutate.md).
type Report struct {
	Targets []string `json:"targets"`
	// Kernel is the build spec mutated (--kernel), Tree the scratch tree.
	Kernel string `json:"kernel,omitempty"`
	Tree   string `json:"tree,omitempty"`
	// Shard is the slice of the mutants this run took (--shard K/N), nil
	// for all; Generated counts the mutants before sharding.
	Shard       *catalog.Shard    `json:"shard,omitempty"`
	Generated   int               `json:"generated"`
	Counts      Counts            `json:"counts"`
	Score       float64           `json:"score"`
	PerOperator map[string]Counts `json:"per_operator"`
	Mutants     []Result          `json:"mutants"`
	// UnusedExplanations matched no mutant (stale: the code changed).
	UnusedExplanations []Explanation `json:"unused_explanations,omitempty"`
}

// NewReport tallies results.
func NewReport(targets []string, tree string, results []Result) *Report {
	r := &Report{Targets: targets, Tree: tree, PerOperator: map[string]Counts{}, Mutants: results, Generated: len(results)}
	r.Tally()
	return r
}

// Tally recounts Counts, PerOperator and Score from Mutants (after
// explanations were attached, or results merged).
func (r *Report) Tally() {
	r.Counts, r.PerOperator = Counts{}, map[string]Counts{}
	for _, m := range r.Mutants {
		r.Counts.add(m)
		c := r.PerOperator[m.Operator]
		c.add(m)
		r.PerOperator[m.Operator] = c
	}
	r.Score = r.Counts.Score()
}

// Below reports whether the score misses min; a run with nothing scored
// misses every positive minimum.
func (r *Report) Below(min float64) bool { return r.Score < min }

// ReadReport reads a mutate.json.
func ReadReport(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// Reexplain replaces the report's explanations by those of es and
// recounts: explanations are judged again without building anything.
func (r *Report) Reexplain(es []Explanation) {
	for i := range r.Mutants {
		r.Mutants[i].Explanation = ""
	}
	r.UnusedExplanations = Explain(r.Mutants, es)
	r.Tally()
}

// Write writes mutate.json and mutate.md into dir.
func (r *Report) Write(dir string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "mutate.json"), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write mutate.json: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "mutate.md"), []byte(r.Markdown()), 0o644); err != nil {
		return fmt.Errorf("write mutate.md: %w", err)
	}
	return nil
}

// Markdown renders the report: the score, a table per operator, every
// survivor with its rule and diff, and the killers of each killed mutant.
func (r *Report) Markdown() string {
	var b strings.Builder
	c := r.Counts
	fmt.Fprintf(&b, "# Mutation report: %s\n\n", strings.Join(r.Targets, ", "))
	if c.Scored() > 0 {
		fmt.Fprintf(&b, "Score **%.1f%%**: %d killed of %d scored", 100*r.Score, c.Killed, c.Scored())
	} else {
		fmt.Fprintf(&b, "No score: no mutant was run to a verdict")
	}
	fmt.Fprintf(&b, " (%d mutants: %d stillborn, %d equivalent, %d duplicates, %d errors, %d pending).\n\n", c.Total, c.Stillborn, c.Equivalent, c.Duplicate, c.Error, c.Pending)
	if r.Shard != nil {
		fmt.Fprintf(&b, "Shard %s: %d of the %d mutants generated.\n\n", r.Shard, c.Total, r.Generated)
	}
	if c.Survived > 0 {
		fmt.Fprintf(&b, "Survivors: %d, %d of them with an explanation (below), %d unexplained. Explained survivors still count as survivors in the score.\n\n", c.Survived, c.Explained, c.Survived-c.Explained)
	}
	b.WriteString("| operator | mutants | stillborn | equivalent | duplicate | killed | survived | error |\n|---|---|---|---|---|---|---|---|\n")
	for _, op := range operatorNames {
		oc, ok := r.PerOperator[op]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d |\n", op, oc.Total, oc.Stillborn, oc.Equivalent, oc.Duplicate, oc.Killed, oc.Survived, oc.Error)
	}
	section := func(title string, o Outcome, body func(Result)) {
		first := true
		for _, m := range r.Mutants {
			if m.Outcome != o || (o == Survived && (m.Explanation != "") != strings.HasPrefix(title, explainedTitle)) {
				continue
			}
			if first {
				fmt.Fprintf(&b, "\n## %s\n\n", title)
				first = false
			}
			body(m)
		}
	}
	section("Survivors, unexplained: rules no test checks", Survived, func(m Result) {
		fmt.Fprintf(&b, "### %s\n\n%s (%s, line %d)\n\n```diff\n%s```\n\nCases run: %s.\n\n", m.ID, m.Rule, m.Func, m.Line, m.Diff, casesRun(m))
	})
	section(explainedTitle, Survived, func(m Result) {
		fmt.Fprintf(&b, "### %s\n\n%s (%s, line %d)\n\n```diff\n%s```\n\n**Explanation**: %s\n\nCases run: %s.\n\n", m.ID, m.Rule, m.Func, m.Line, m.Diff, m.Explanation, casesRun(m))
	})
	section("Errors", Error, func(m Result) {
		fmt.Fprintf(&b, "- %s: %s\n", m.ID, m.Detail)
	})
	section("Killed", Killed, func(m Result) {
		k := m.Killers
		more := ""
		if len(k) > 5 {
			more = fmt.Sprintf(", … %d more", len(k)-5)
			k = k[:5]
		}
		fmt.Fprintf(&b, "- %s (%s): %s%s\n", m.ID, m.Rule, strings.Join(k, ", "), more)
	})
	if len(r.UnusedExplanations) > 0 {
		b.WriteString("\n## Explanations that matched no mutant\n\n")
		for _, e := range r.UnusedExplanations {
			fmt.Fprintf(&b, "- %s (%s in %s: `%s`): the code changed or is no longer targeted; judge it again\n", e.ID, e.Operator, e.Function, e.Code)
		}
	}
	section("Stillborn", Stillborn, func(m Result) {
		fmt.Fprintf(&b, "- %s: %s\n", m.ID, m.Detail)
	})
	section("Equivalent", Equivalent, func(m Result) {
		fmt.Fprintf(&b, "- %s: `%s` → `%s`\n", m.ID, short(m.Original), short(m.Replacement))
	})
	return b.String()
}
