package ktap

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/vmtest/vmtest/internal/result"
)

// Nested is what WriteNested needs besides the cases: the run-level
// diagnostics to print at the top, in this order.
type Nested struct {
	// Info is printed as "# key: value" lines before the plan.
	Info []KeyValue
}

// KeyValue is one run-level diagnostic.
type KeyValue struct{ Key, Value string }

// TimedOut reports whether an error case ended because it ran out of time
// (the guest's case timeout, or a worker abandoned past it): KTAP has a
// TIMEOUT directive for that, which tells a reader the case may pass
// given longer, unlike an ERROR.
func TimedOut(c result.Case) bool {
	return c.Outcome == result.Error && strings.HasPrefix(c.Reason, "timeout:")
}

// WriteNested writes cases as a KTAP v1 document with one subtest per
// group, the shape KUnit prints and kunit.py's parser reads: the top level
// has one test per group, each an indented block with its own version
// line, "# Subtest:" header, plan and test lines, closed by the group's
// own result line. Groups appear in the order their first case does.
//
// The flat stream the guest agent writes (NewWriter) carries vmtest's
// records for the host; this form is for people and KTAP tools, so each
// case that did not pass gets "# expected:"/"# observed:" diagnostics
// instead of JSON.
func WriteNested(w io.Writer, cases []result.Case, n Nested) error {
	bw := bufio.NewWriter(w)
	var order []string
	byGroup := map[string][]result.Case{}
	for _, c := range cases {
		g := groupName(c)
		if _, ok := byGroup[g]; !ok {
			order = append(order, g)
		}
		byGroup[g] = append(byGroup[g], c)
	}
	fmt.Fprintf(bw, "%s\n", versionLine)
	for _, kv := range n.Info {
		fmt.Fprintf(bw, "# %s: %s\n", oneLine(kv.Key), oneLine(kv.Value))
	}
	fmt.Fprintf(bw, "1..%d\n", len(order))
	const indent = "    "
	for i, g := range order {
		cs := byGroup[g]
		fmt.Fprintf(bw, "%s%s\n%s# Subtest: %s\n%s1..%d\n", indent, versionLine, indent, g, indent, len(cs))
		counts := map[result.Outcome]int{}
		for j, c := range cs {
			counts[c.Outcome]++
			for _, d := range diagnostics(c) {
				fmt.Fprintf(bw, "%s# %s\n", indent, d)
			}
			fmt.Fprintf(bw, "%s%s\n", indent, nestedLine(j+1, c))
		}
		fmt.Fprintf(bw, "# %s: %s\n", g, tally(counts))
		fmt.Fprintf(bw, "%s\n", groupLine(i+1, g, counts, len(cs)))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write nested KTAP: %w", err)
	}
	return nil
}

// groupName is the subtest name of a case's group: cases without one
// (an earlier matrix) are gathered under "ungrouped". A KTAP name ends at
// " #", so '#' is replaced.
func groupName(c result.Case) string {
	g := c.Group
	if g == "" {
		g = "ungrouped"
	}
	return strings.ReplaceAll(g, "#", "_")
}

// nestedLine is TestLine with the TIMEOUT directive for cases that ran out
// of time, and a case ID that cannot end the name early.
func nestedLine(n int, c result.Case) string {
	c.ID = strings.ReplaceAll(c.ID, "#", "_")
	if TimedOut(c) {
		return fmt.Sprintf("not ok %d %s # TIMEOUT %s", n, c.ID, oneLine(c.Reason))
	}
	return TestLine(n, c)
}

// diagnostics are the lines printed before a case's test line: what it
// expected and saw when it did not pass (a pass says nothing: its
// expectation held), and what it reported for information.
func diagnostics(c result.Case) []string {
	var d []string
	if c.Outcome == result.Fail || c.Outcome == result.Error {
		if c.Rule != "" {
			d = append(d, "rule: "+oneLine(c.Rule))
		}
		if c.Expected != nil {
			d = append(d, "expected: "+oneLine(c.Expected.String()))
		}
		if c.Observed != nil {
			d = append(d, "observed: "+oneLine(c.Observed.String()))
		}
		if c.Outcome == result.Fail && c.Reason != "" {
			d = append(d, "reason: "+oneLine(c.Reason))
		}
	}
	if c.Info != "" {
		d = append(d, "info: "+oneLine(c.Info))
	}
	return d
}

// groupLine is the result line of a group: not ok when any case failed
// or errored, SKIP when no case ran (all skipped or unsupported), else ok.
func groupLine(n int, g string, counts map[result.Outcome]int, total int) string {
	switch {
	case counts[result.Fail]+counts[result.Error] > 0:
		return fmt.Sprintf("not ok %d %s", n, g)
	case counts[result.Skip]+counts[result.Unsupported] == total:
		return fmt.Sprintf("ok %d %s # SKIP no case of the group could run on this kernel", n, g)
	}
	return fmt.Sprintf("ok %d %s", n, g)
}

// tally is the KUnit-style summary of a group: "pass:3 fail:1 skip:2
// error:0 unsupported:0", outcomes in a fixed order.
func tally(counts map[result.Outcome]int) string {
	outcomes := []result.Outcome{result.Pass, result.Fail, result.Skip, result.Unsupported, result.Error}
	var keys []string
	for o := range counts {
		if !o.Valid() {
			keys = append(keys, string(o))
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		outcomes = append(outcomes, result.Outcome(k))
	}
	parts := make([]string, 0, len(outcomes))
	for _, o := range outcomes {
		parts = append(parts, fmt.Sprintf("%s:%d", o, counts[o]))
	}
	return strings.Join(parts, " ")
}
