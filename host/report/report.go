// Package report renders results for people: the per-case table printed at
// the end of a run and the listing of `vmtest matrix`.
package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/result"
)

// Cases prints one row per case: ID, outcome, expected, observed, and the
// reason for anything that is not a pass.
func Cases(w io.Writer, cases []result.Case) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tOUTCOME\tEXPECTED\tOBSERVED\tNOTE")
	for _, c := range cases {
		note := c.Reason
		if c.Outcome == result.Pass {
			note = c.Info
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Outcome, answer(c.Expected), answer(c.Observed), clip(note, 100))
	}
	tw.Flush()
}

// Summary prints "N pass, N fail, ..." with every outcome that occurred.
func Summary(w io.Writer, cases []result.Case) {
	n := map[result.Outcome]int{}
	for _, c := range cases {
		n[c.Outcome]++
	}
	var parts []string
	for _, o := range []result.Outcome{result.Pass, result.Fail, result.Error, result.Skip, result.Unsupported} {
		if n[o] > 0 || o == result.Pass || o == result.Fail {
			parts = append(parts, fmt.Sprintf("%d %s", n[o], o))
		}
	}
	fmt.Fprintf(w, "%d cases: %s\n", len(cases), strings.Join(parts, ", "))
}

// Matrix lists the cases without running them.
func Matrix(w io.Writer, cases []catalog.Info) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tGROUP\tSETUP\tEXPECT\tRULE")
	for _, c := range cases {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Group, c.Setup.Describe(), c.Expect, c.Rule)
	}
	tw.Flush()
}

func answer(a *result.Answer) string {
	if a == nil {
		return "-"
	}
	return clip(a.String(), 60)
}

// clip shortens s to n characters (not bytes: notes may hold → and …).
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
