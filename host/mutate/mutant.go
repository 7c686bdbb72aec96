// Package mutate measures how strong a test matrix is for a piece of
// kernel code: it makes mutants of the code (one small change each, such
// as `<` for `<=` or a deleted call), finds those that do not compile
// (stillborn) or compile to the same object code as the original
// (equivalent), and runs the rest; a mutant no test notices is a survivor,
// a rule of the code the tests do not check.
//
// The C is read with package ctoken, not parsed: see docs/mutate.md for
// the operators and what the token-level reading can and cannot tell.
package mutate

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/vmtest/vmtest/host/mutate/ctoken"
)

// Mutant is one change to one file: Src[Start:End] replaced by
// Replacement. Replacements never add or remove a newline, so every line
// number (__LINE__ in WARN_ON, BUG_ON, pr_* calls) is the same in the
// mutant as in the original, and an object file that differs, differs
// because the code does.
type Mutant struct {
	// ID is stable for the same source: operator@file:line:col, with a
	// suffix when one position has several alternatives.
	ID          string `json:"id"`
	File        string `json:"file"`
	Func        string `json:"function,omitempty"`
	Start       int    `json:"start"`
	End         int    `json:"end"`
	Original    string `json:"original"`
	Replacement string `json:"replacement"`
	Operator    string `json:"operator"`
	Line        int    `json:"line"`
	Col         int    `json:"col"`
	// Rule says in words which rule of the code the mutant breaks.
	Rule string `json:"rule"`
	// Diff is the change as a unified diff against the tree (-p1).
	Diff string `json:"diff"`
	// SourceSHA256 is the hash of the whole mutated file, which folds
	// mutants that different operators make identical.
	SourceSHA256 string `json:"source_sha256"`
}

// Apply returns src with the mutation made.
func (m Mutant) Apply(src []byte) []byte {
	out := make([]byte, 0, len(src)-(m.End-m.Start)+len(m.Replacement))
	out = append(out, src[:m.Start]...)
	out = append(out, m.Replacement...)
	return append(out, src[m.End:]...)
}

// Generate makes the mutants of target in src (the file's contents),
// sorted by position, with duplicates (identical mutated files) folded
// into the first. ops selects operators by name; nil means all.
func Generate(t Target, src []byte, ops []string) ([]Mutant, error) {
	want := map[string]bool{}
	for _, o := range ops {
		if !knownOperator(o) {
			return nil, fmt.Errorf("unknown mutation operator %q (known: %s)", o, strings.Join(OperatorNames(), ", "))
		}
		want[o] = true
	}
	all, err := ctoken.Tokenize(src)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.File, err)
	}
	toks := ctoken.Code(all)
	match, err := ctoken.Match(toks)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", t.File, err)
	}
	lines, err := t.resolve(toks, match)
	if err != nil {
		return nil, err
	}
	fo := newFolder(t.File, src)
	for _, f := range ctoken.Functions(toks, match) {
		if !lines.overlaps(f.Line, f.EndLine) {
			continue
		}
		a := &analysis{src: src, toks: toks, match: match, fn: f}
		for _, e := range a.run() {
			if (len(want) > 0 && !want[e.op]) || !lines.has(toks[e.first].Line) {
				continue
			}
			fo.add(toks, f.Name, e)
		}
	}
	out := fo.out
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, nil
}

// folder turns edits into mutants, keeping the first of those that make
// the same file and numbering those that share a position.
type folder struct {
	file string
	src  []byte
	seen map[string]bool
	ids  map[string]int
	out  []Mutant
}

func newFolder(file string, src []byte) *folder {
	return &folder{file: file, src: src, seen: map[string]bool{}, ids: map[string]int{}}
}

func (fo *folder) add(toks []ctoken.Token, fn string, e edit) {
	tk := toks[e.first]
	m := Mutant{
		File: fo.file, Func: fn, Start: tk.Off, End: toks[e.last].End,
		Operator: e.op, Line: tk.Line, Col: tk.Col, Rule: e.rule,
	}
	m.Original = string(fo.src[m.Start:m.End])
	m.Replacement = keepLines(e.repl, m.Original)
	mutated := m.Apply(fo.src)
	sum := sha256.Sum256(mutated)
	m.SourceSHA256 = hex.EncodeToString(sum[:])
	if fo.seen[m.SourceSHA256] {
		return
	}
	fo.seen[m.SourceSHA256] = true
	id := fmt.Sprintf("%s@%s:%d:%d", m.Operator, fo.file, m.Line, m.Col)
	fo.ids[id]++
	if n := fo.ids[id]; n > 1 {
		id = fmt.Sprintf("%s#%d", id, n)
	}
	m.ID = id
	m.Diff = unifiedDiff(fo.file, fo.src, mutated)
	fo.out = append(fo.out, m)
}

// keepLines appends to repl the newlines orig has beyond repl's, so a
// replacement of a multi-line statement keeps every later line in place.
func keepLines(repl, orig string) string {
	n := strings.Count(orig, "\n") - strings.Count(repl, "\n")
	if n > 0 {
		repl += strings.Repeat("\n", n)
	}
	return repl
}

// unifiedDiff is the -p1 diff from old to new, which differ only in lines
// whose count is the same (keepLines), with three lines of context.
func unifiedDiff(path string, old, new []byte) string {
	ol := strings.SplitAfter(string(old), "\n")
	nl := strings.SplitAfter(string(new), "\n")
	first := 0
	for first < len(ol) && first < len(nl) && ol[first] == nl[first] {
		first++
	}
	lastO, lastN := len(ol)-1, len(nl)-1
	for lastO > first && lastN > first && ol[lastO] == nl[lastN] {
		lastO--
		lastN--
	}
	from := max(first-3, 0)
	toO, toN := min(lastO+3, len(ol)-1), min(lastN+3, len(nl)-1)
	// A trailing "" element from SplitAfter is no line.
	if ol[toO] == "" {
		toO--
	}
	if nl[toN] == "" {
		toN--
	}
	var b strings.Builder
	fmt.Fprintf(&b, "--- a/%s\n+++ b/%s\n@@ -%d,%d +%d,%d @@\n", path, path, from+1, toO-from+1, from+1, toN-from+1)
	line := func(prefix, l string) {
		b.WriteString(prefix)
		b.WriteString(l)
		if !strings.HasSuffix(l, "\n") {
			b.WriteString("\n\\ No newline at end of file\n")
		}
	}
	for i := from; i < first; i++ {
		line(" ", ol[i])
	}
	for i := first; i <= lastO; i++ {
		line("-", ol[i])
	}
	for i := first; i <= lastN; i++ {
		line("+", nl[i])
	}
	for i := lastO + 1; i <= toO; i++ {
		line(" ", ol[i])
	}
	return b.String()
}
