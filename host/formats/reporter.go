package formats

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmtest/vmtest/host/compare"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/result"
)

// SummaryFile is the Markdown summary of a run, for a CI job's summary
// page (GitHub's $GITHUB_STEP_SUMMARY); a comparison has comparison.md.
const SummaryFile = "summary.md"

// Reporter writes every format with its options: a run.Reporter for run
// and repeat directories, and, through Comparison, compare.Options.Report.
type Reporter struct{ Options Options }

// Run writes a run directory's formats and its summary.md.
func (r Reporter) Run(dir string, res *run.Result) error {
	if err := WriteRun(dir, res, r.Options); err != nil {
		return err
	}
	return writeSummary(dir, res, nil)
}

// Repeat writes a repeated run's top-level formats and summary.md.
func (r Reporter) Repeat(dir string, rr *run.RepeatResult, runs []*run.Result) error {
	if err := WriteRepeat(dir, rr, runs, r.Options); err != nil {
		return err
	}
	merged, flaky := MergeRepeat(rr, runs)
	return writeSummary(dir, merged, flaky)
}

// Comparison writes a staged comparison directory's formats
// (compare.Options.Report).
func (r Reporter) Comparison(dir string, c *compare.Comparison) error {
	return WriteComparison(dir, c, r.Options)
}

// writeSummary writes summary.md: the verdict in one line, then every case
// that did not pass (flaky ones marked), at most summaryRows of them.
func writeSummary(dir string, res *run.Result, flaky map[string]string) error {
	f, err := os.Create(filepath.Join(dir, SummaryFile))
	if err != nil {
		return fmt.Errorf("write %s: %w", SummaryFile, err)
	}
	Summary(f, res, flaky)
	return f.Close()
}

// summaryRows bounds the table: a CI summary page is for reading.
const summaryRows = 50

// Summary renders res as Markdown.
func Summary(w io.Writer, res *run.Result, flaky map[string]string) {
	var counts []string
	for _, o := range []result.Outcome{result.Pass, result.Fail, result.Error, result.Skip, result.Unsupported} {
		if n := res.Summary[o]; n > 0 {
			counts = append(counts, fmt.Sprintf("%d %s", n, o))
		}
	}
	verdict := "passed"
	switch {
	case res.Infra():
		verdict = "did not complete: " + string(res.Status)
	case res.Failed():
		verdict = "failed"
	}
	fmt.Fprintf(w, "### vmtest %s on %s\n\n", verdict, mdEscape(res.Kernel.Release))
	fmt.Fprintf(w, "%d cases: %s · %s · %.1f s\n\n", len(res.Cases), strings.Join(counts, ", "), res.Accel, res.Timings.TotalMS/1000)
	if res.StatusDetail != "" {
		fmt.Fprintf(w, "%s\n\n", mdEscape(res.StatusDetail))
	}
	if res.CrashTitle != "" {
		fmt.Fprintf(w, "Kernel report: `%s`\n\n", strings.ReplaceAll(res.CrashTitle, "`", "'"))
	}
	var rows []string
	for _, c := range res.Cases {
		why, isFlaky := flaky[c.ID]
		if c.Outcome == result.Pass && !isFlaky {
			continue
		}
		outcome := string(c.Outcome)
		if isFlaky {
			outcome += " (flaky: " + why + ")"
		}
		rows = append(rows, fmt.Sprintf("| `%s` | %s | %s | %s | %s |", c.ID, mdEscape(outcome), mdAnswer(c.Expected), mdAnswer(c.Observed), mdEscape(c.Reason)))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "| case | outcome | expected | observed | reason |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for i, r := range rows {
		if i == summaryRows {
			fmt.Fprintf(w, "\n… and %d more: see report.html\n", len(rows)-summaryRows)
			break
		}
		fmt.Fprintln(w, r)
	}
}

func mdAnswer(a *result.Answer) string {
	if a == nil {
		return ""
	}
	return mdEscape(a.String())
}

// mdEscape keeps text from breaking a table row.
func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ", "\r", "").Replace(s)
}
