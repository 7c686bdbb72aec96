package mutate

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// JSONFile is the report's name in a result directory.
const JSONFile = "mutate.json"

// LoadReport reads dir/mutate.json (ReadReport), checking that it is a
// mutation report: targets, and every mutant with an ID and a known
// outcome (or none: pending).
func LoadReport(dir string) (*Report, error) {
	r, err := ReadReport(filepath.Join(dir, JSONFile))
	if err != nil {
		return nil, fmt.Errorf("read mutation report: %w", err)
	}
	if len(r.Targets) == 0 {
		return nil, fmt.Errorf("%s/%s is not a vmtest mutation report (no targets)", dir, JSONFile)
	}
	for i, m := range r.Mutants {
		if m.ID == "" || !knownOutcome(m.Outcome) {
			return nil, fmt.Errorf("%s/%s: mutant %d has no id or an unknown outcome %q", dir, JSONFile, i, m.Outcome)
		}
	}
	return r, nil
}

func knownOutcome(o Outcome) bool {
	switch o {
	case "", Stillborn, Equivalent, Duplicate, Killed, Survived, Error:
		return true
	}
	return false
}

// Merge joins the reports of a sharded mutation run (vmtest mutate
// --shard K/N, one per CI job, each dealt its mutants by Shard), given in
// any order, into the report one whole run would have written, its
// mutants in the whole run's order; names are where each came from (their
// directories), for the errors. It refuses reports that cannot be one
// run: of another kernel, targets or mutant set, not shards, of different
// shard counts, a shard twice, a mutant in two shards, or shards missing.
// Errors about the inputs match inputerr.ErrBadInput. The inputs are not
// changed.
//
// Mutants of different shards with the same object code were each booted
// in their own shard, where a whole run boots only the first: the later
// ones become duplicates of the first here, so the score is the one a
// whole run gives.
func Merge(reports []*Report, names []string) (*Report, error) {
	if len(reports) == 0 {
		return nil, inputerr.New("results", "", errors.New("nothing to merge: name the shards' mutation result directories"))
	}
	if len(names) != len(reports) {
		return nil, fmt.Errorf("merge: %d reports but %d names", len(reports), len(names))
	}
	first := reports[0]
	n := 0
	var ks []catalog.Shard
	owner := map[string]string{}
	total := 0
	// The source lines the diffs show, to tell a shard of another source
	// (a newer stable release under the same build spec) by them.
	lines := map[string]sourceLine{}
	for i, r := range reports {
		bad := func(format string, a ...any) error { return inputerr.Errorf("results", names[i], format, a...) }
		if r.Shard == nil {
			return nil, bad("is a whole mutation run, not a shard (vmtest mutate --shard K/N)")
		}
		if base(r) != base(first) {
			return nil, bad("mutated %s, %s mutated %s: shards of one run mutate one kernel", base(r), names[0], base(first))
		}
		if !slices.Equal(r.Targets, first.Targets) {
			return nil, bad("targets %s, %s has %s: shards of one run share --target and --patch", strings.Join(r.Targets, " "), names[0], strings.Join(first.Targets, " "))
		}
		if r.Generated != first.Generated {
			return nil, bad("generated %d mutants, %s %d: shards of one run share the source, targets and --operator", r.Generated, names[0], first.Generated)
		}
		s := *r.Shard
		if n == 0 {
			n = s.N
		}
		if s.N != n {
			return nil, bad("is shard %s, the others are of %d: shards of one run share N", s, n)
		}
		if slices.Contains(ks, s) {
			return nil, bad("is shard %s again: each shard once", s)
		}
		ks = append(ks, s)
		for _, m := range r.Mutants {
			if d, ok := owner[m.ID]; ok {
				return nil, bad("has mutant %s, which %s has too: the shards overlap", m.ID, d)
			}
			owner[m.ID] = names[i]
			for at, text := range oldLines(m.File, m.Diff) {
				if l, ok := lines[at]; ok && l.text != text {
					return nil, bad("mutated other source: %s reads %q in it, %q in %s; shards of one run mutate one source", at, text, l.text, l.from)
				}
				lines[at] = sourceLine{text, names[i]}
			}
		}
		total += len(r.Mutants)
	}
	var missing []string
	for k := 1; k <= n; k++ {
		if !slices.Contains(ks, catalog.Shard{K: k, N: n}) {
			missing = append(missing, fmt.Sprintf("%d/%d (%d mutants)", k, n, dealt(first.Generated, catalog.Shard{K: k, N: n})))
		}
	}
	if len(missing) > 0 {
		return nil, inputerr.Errorf("results", strings.Join(names, " "), "lack shard %s: a merged result must hold every mutant (%d of the %d generated are here)", strings.Join(missing, ", "), total, first.Generated)
	}
	byK := make([]*Report, n)
	for i, r := range reports {
		if want := dealt(r.Generated, *r.Shard); len(r.Mutants) != want {
			return nil, inputerr.Errorf("results", names[i], "holds %d mutants, but shard %s of %d holds %d: the report is incomplete", len(r.Mutants), r.Shard, r.Generated, want)
		}
		byK[r.Shard.K-1] = r
	}

	m := &Report{Targets: slices.Clone(first.Targets), Kernel: first.Kernel, Generated: first.Generated}
	if all(reports, func(r *Report) bool { return r.Tree == first.Tree }) {
		m.Tree = first.Tree
	}
	// Shard dealt the i-th mutant to shard i mod N + 1: deal them back.
	for i := range first.Generated {
		res := byK[i%n].Mutants[i/n]
		res.Killers = slices.Clone(res.Killers)
		m.Mutants = append(m.Mutants, res)
	}
	foldDuplicates(m.Mutants)
	m.UnusedExplanations = unusedInAll(reports)
	m.Tally()
	return m, nil
}

// base is what a run mutated: its kernel build spec, or, in a report
// without one, the build tree it copied.
func base(r *Report) string {
	if r.Kernel != "" {
		return r.Kernel
	}
	return r.Tree
}

func all(rs []*Report, f func(*Report) bool) bool {
	for _, r := range rs {
		if !f(r) {
			return false
		}
	}
	return true
}

type sourceLine struct{ text, from string }

// oldLines are the original's lines a mutant's diff shows (context and
// removed lines), by FILE:LINE.
func oldLines(file, diff string) map[string]string {
	out := map[string]string{}
	n := 0
	for _, l := range strings.Split(diff, "\n") {
		switch {
		case strings.HasPrefix(l, "@@ -"):
			n = 0
			fmt.Sscanf(l, "@@ -%d", &n)
		case n == 0, strings.HasPrefix(l, "+"), strings.HasPrefix(l, `\`):
		case strings.HasPrefix(l, " "), strings.HasPrefix(l, "-"):
			out[fmt.Sprintf("%s:%d", file, n)] = l[1:]
			n++
		}
	}
	return out
}

// dealt is how many of generated mutants Shard gives shard s.
func dealt(generated int, s catalog.Shard) int {
	if generated < s.K {
		return 0
	}
	return (generated-s.K)/s.N + 1
}

// foldDuplicates makes every mutant whose object code an earlier one
// (in ms's order) has a duplicate of it, as Run does within one run: the
// first with some code is the one booted, the rest share its outcome.
// Equivalent mutants (the original's code) are not folded.
func foldDuplicates(ms []Result) {
	first := map[string]int{}
	for i := range ms {
		r := &ms[i]
		if r.ObjectSHA == "" || r.Outcome == Equivalent || r.Outcome == "" {
			continue
		}
		j, ok := first[r.ObjectSHA]
		if !ok {
			first[r.ObjectSHA] = i
			continue
		}
		d := ms[j]
		if r.Outcome != Duplicate {
			// Booted in its own shard: keep what that run said.
			r.Detail = fmt.Sprintf("same object code as %s (%s); its own shard ran it too: %s", d.ID, d.Outcome, r.Outcome)
		} else {
			r.Detail = fmt.Sprintf("same object code as %s (%s)", d.ID, d.Outcome)
		}
		r.Outcome, r.DuplicateOf = Duplicate, d.ID
		r.Killers, r.RunStatus, r.Explanation = slices.Clone(d.Killers), d.RunStatus, ""
	}
}

// unusedInAll are the explanations no shard used: one that explained a
// survivor of any shard is in use.
func unusedInAll(rs []*Report) []Explanation {
	var out []Explanation
	for _, e := range rs[0].UnusedExplanations {
		if all(rs, func(r *Report) bool { return slices.Contains(r.UnusedExplanations, e) }) {
			out = append(out, e)
		}
	}
	return out
}
