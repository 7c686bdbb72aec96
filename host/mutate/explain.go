package mutate

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// Explanation says in words why a surviving mutant is equivalent in
// behaviour although its object code differs (vmtest mutate --explain).
//
// It is matched by what the mutant changes, not by its ID: an ID carries
// a line and column, which move whenever the file changes above the
// function (every Debian stable update of the kernel does), while the
// file, the function, the operator, the code of the mutated lines and the
// replacement stay. When the code itself changes the explanation stops
// matching, which is right: it must be judged again.
type Explanation struct {
	// ID is the mutant's ID when the explanation was written, for the
	// reader; it is not matched.
	ID       string `json:"id,omitempty"`
	File     string `json:"file"`
	Function string `json:"function"`
	Operator string `json:"operator"`
	// Code is the mutated lines of the original as Mutant.Code gives
	// them (white space collapsed).
	Code        string `json:"code"`
	Original    string `json:"original"`
	Replacement string `json:"replacement"`
	// Why is the argument, in words.
	Why string `json:"why"`
}

// explanationFile is the --explain file: {"explanations": [...]}.
type explanationFile struct {
	Explanations []Explanation `json:"explanations"`
}

// ReadExplanations reads an --explain file.
func ReadExplanations(path string) ([]Explanation, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f explanationFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, e := range f.Explanations {
		if e.File == "" || e.Operator == "" || e.Code == "" || e.Why == "" {
			return nil, fmt.Errorf("%s: explanation %d (%s) lacks file, operator, code or why", path, i+1, e.ID)
		}
	}
	return f.Explanations, nil
}

// Code is the text of the lines the mutant changes in the original (the
// diff's removed lines), white space collapsed: what an Explanation
// matches besides the original and replacement text.
func (m Mutant) Code() string {
	var lines []string
	for _, l := range strings.Split(m.Diff, "\n") {
		if strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---") {
			lines = append(lines, strings.Join(strings.Fields(l[1:]), " "))
		}
	}
	return strings.Join(lines, " ")
}

// Matches reports whether e explains m.
func (e Explanation) Matches(m Mutant) bool {
	return e.File == m.File && e.Function == m.Func && e.Operator == m.Operator &&
		e.Code == m.Code() && e.Original == m.Original && e.Replacement == m.Replacement
}

// Explain attaches to each survivor the first explanation that matches
// it and returns the explanations that matched no mutant at all (stale:
// the code changed, or the target no longer covers it). Explained
// survivors stay survivors: the score counts them as such.
func Explain(results []Result, es []Explanation) (unused []Explanation) {
	for _, e := range es {
		used := false
		for i := range results {
			r := &results[i]
			if !e.Matches(r.Mutant) {
				continue
			}
			used = true
			if r.Outcome == Survived && r.Explanation == "" {
				r.Explanation = e.Why
			}
		}
		if !used {
			unused = append(unused, e)
		}
	}
	return unused
}
