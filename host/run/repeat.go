package run

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/internal/inputerr"
	"github.com/vmtest/vmtest/internal/result"
)

// RepeatFile is the summary at the top of a repeated run's directory
// (`vmtest run --repeat N`); each boot's own result directory is beside it,
// named 1, 2, ... N.
const RepeatFile = "repeat.json"

// RepeatResult is repeat.json: every boot's status and, per case, its
// outcome in each boot that completed.
type RepeatResult struct {
	Kernel struct {
		Path    string `json:"path"`
		Release string `json:"release"`
	} `json:"kernel"`
	// Repeats is how many boots were asked for; Runs those that happened
	// (fewer when interrupted).
	Repeats int         `json:"repeats"`
	Runs    []RepeatRun `json:"runs"`
	// Status is completed when every boot completed, else the first other
	// status: a case's tally only counts completed boots.
	Status Status       `json:"status"`
	Cases  []RepeatCase `json:"cases"`
	// Flaky lists the cases whose outcome differed between boots.
	Flaky []string `json:"flaky"`
	Dir   string   `json:"dir"`
}

// RepeatRun is one boot of a repeated run.
type RepeatRun struct {
	Dir     string                 `json:"dir"` // relative to the repeat directory
	Status  Status                 `json:"status"`
	Detail  string                 `json:"status_detail,omitempty"`
	Summary map[result.Outcome]int `json:"summary"`
	TotalMS float64                `json:"total_ms"`
}

// RepeatCase is one case over the completed boots.
type RepeatCase struct {
	ID    string `json:"id"`
	Group string `json:"group,omitempty"`
	// Passes of Runs completed boots passed; Outcomes is one per boot.
	Passes   int              `json:"passes"`
	Runs     int              `json:"runs"`
	Outcomes []result.Outcome `json:"outcomes"`
	Flaky    bool             `json:"flaky"`
}

// Failed reports whether any case failed or errored in any completed boot.
func (r *RepeatResult) Failed() bool {
	for _, c := range r.Cases {
		for _, o := range c.Outcomes {
			if o.Failed() {
				return true
			}
		}
	}
	return false
}

// Repeat boots the kernel n times, one fresh VM after another, and
// tallies each case. The directory (Options.Out) holds one whole result
// directory per boot and repeat.json; like a single run's, it is
// assembled under a temporary name and renamed. An interrupted repeat
// keeps the boots that ran, the last one with the cases it finished.
func (p *Prepared) Repeat(ctx context.Context, n int) (*RepeatResult, error) {
	if n < 1 {
		return nil, inputerr.Errorf("repeat", strconv.Itoa(n), "must be at least 1")
	}
	progress := p.opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	out := p.opts.Out
	if out == "" {
		out = filepath.Join("results", stamp()+"-"+sanitize(p.kinfo.Release)+"-x"+strconv.Itoa(n))
	}
	out, _ = filepath.Abs(out)
	final := out
	if p.final != "" {
		final = p.final
	}
	staging, err := NewStaging(out)
	if err != nil {
		return nil, err
	}
	defer staging.Discard()
	stage := staging.Dir
	rr := &RepeatResult{Repeats: n, Dir: final, Status: Completed}
	rr.Kernel.Path, _ = filepath.Abs(p.opts.Kernel)
	rr.Kernel.Release = p.kinfo.Release
	var runs []*Result
	for i := 1; i <= n && ctx.Err() == nil; i++ {
		fmt.Fprintf(progress, "repeat %d of %d\n", i, n)
		name := strconv.Itoa(i)
		res, err := p.Into(filepath.Join(stage, name), filepath.Join(final, name)).Run(ctx)
		if err != nil {
			return nil, fmt.Errorf("repeat %d of %d: %w", i, n, err)
		}
		rr.Runs = append(rr.Runs, RepeatRun{Dir: name, Status: res.Status, Detail: res.StatusDetail, Summary: res.Summary, TotalMS: res.Timings.TotalMS})
		if res.Status != Completed && rr.Status == Completed {
			rr.Status = res.Status
		}
		runs = append(runs, res)
	}
	rr.Cases, rr.Flaky = Tally(runs)
	if err := writeJSON(filepath.Join(stage, RepeatFile), rr); err != nil {
		return nil, err
	}
	if r := p.opts.Reporter; r != nil && len(runs) > 0 {
		if err := r.Repeat(stage, rr, runs); err != nil {
			return nil, fmt.Errorf("write the reports: %w", err)
		}
	}
	if err := staging.Commit(); err != nil {
		return nil, err
	}
	return rr, nil
}

// Tally counts each case's outcomes over the completed runs, in the first
// run's case order. A case is flaky when its outcome is not the same in
// every one of them.
func Tally(runs []*Result) ([]RepeatCase, []string) {
	var cases []RepeatCase
	index := map[string]int{}
	for _, r := range runs {
		if r.Status != Completed {
			continue // its cases were cut short, not answered
		}
		for _, c := range r.Cases {
			i, ok := index[c.ID]
			if !ok {
				i = len(cases)
				index[c.ID] = i
				cases = append(cases, RepeatCase{ID: c.ID, Group: c.Group})
			}
			rc := &cases[i]
			rc.Runs++
			rc.Outcomes = append(rc.Outcomes, c.Outcome)
			if c.Outcome == result.Pass {
				rc.Passes++
			}
		}
	}
	flaky := []string{}
	for i := range cases {
		c := &cases[i]
		for _, o := range c.Outcomes {
			if o != c.Outcomes[0] {
				c.Flaky = true
			}
		}
		if c.Flaky {
			flaky = append(flaky, c.ID)
		}
	}
	if cases == nil {
		cases = []RepeatCase{}
	}
	return cases, flaky
}

// Report prints every case that did not pass every time, with its pass
// count and outcomes, and a summary line.
func (r *RepeatResult) Report(w io.Writer) {
	width := len("CASE")
	for _, c := range r.Cases {
		width = max(width, len(c.ID))
	}
	always, other := 0, 0
	var lines []string
	for _, c := range r.Cases {
		if c.Passes == c.Runs && c.Runs > 0 {
			always++
			continue
		}
		if !c.Flaky {
			other++
		}
		var os []string
		for _, o := range c.Outcomes {
			os = append(os, string(o))
		}
		mark := ""
		if c.Flaky {
			mark = "  flaky"
		}
		lines = append(lines, fmt.Sprintf("%-*s  %d/%d pass  %s%s", width, c.ID, c.Passes, c.Runs, strings.Join(os, " "), mark))
	}
	if len(lines) > 0 {
		fmt.Fprintf(w, "%-*s  %s\n", width, "CASE", "PASSES   OUTCOMES")
		for _, l := range lines {
			fmt.Fprintln(w, l)
		}
	}
	completed := 0
	for _, run := range r.Runs {
		if run.Status == Completed {
			completed++
		}
	}
	fmt.Fprintf(w, "%d cases over %d of %d boots (%d completed): %d passed every time, %d flaky, %d the same other outcome every time\n",
		len(r.Cases), len(r.Runs), r.Repeats, completed, always, len(r.Flaky), other)
}
