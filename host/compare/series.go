package compare

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/inputerr"
	"github.com/vmtest/vmtest/internal/result"
)

// The files of a series directory (compare --each-patch), beside one
// result directory per step, step-0 (the base) to step-N.
const (
	SeriesJSONFile     = "series.json"
	SeriesMarkdownFile = "series.md"
)

// SeriesStep is one kernel of a series: the base (Patches 0) or the base
// with the series' first Patches patches.
type SeriesStep struct {
	Patches int `json:"patches"`
	// Subject is the last patch's subject ("" for the base).
	Subject string           `json:"subject,omitempty"`
	Build   *kbuild.Manifest `json:"build"`
	Dir     string           `json:"dir"`
	Status  run.Status       `json:"status"`
	// Outcomes of the selected cases.
	Summary map[result.Outcome]int `json:"summary"`
	// Result is the step's result.json, not written into series.json.
	Result *run.Result `json:"-"`
}

// SeriesCase is one case across a series: its outcome after each step,
// and each patch that changed it.
type SeriesCase struct {
	ID string `json:"id"`
	// Outcomes are the outcome after each step, the base's first.
	Outcomes []result.Outcome `json:"outcomes"`
	// Changes are the steps whose outcome differs from the step before.
	Changes []SeriesChange `json:"changes,omitempty"`
	// Verdict is the whole series' (the last step against the base).
	Verdict Verdict `json:"verdict"`
}

// SeriesChange is one patch changing one case's outcome.
type SeriesChange struct {
	// Patch is the patch's number in the series, from 1.
	Patch   int            `json:"patch"`
	From    result.Outcome `json:"from"`
	To      result.Outcome `json:"to"`
	Verdict Verdict        `json:"verdict"`
}

// Series is series.json.
type Series struct {
	Kernel string       `json:"kernel"`
	Steps  []SeriesStep `json:"steps"`
	Cases  []SeriesCase `json:"cases"`
	// Summary counts the whole series' verdicts; Regressions are the
	// cases the last step fails that the base did not.
	Summary     map[Verdict]int `json:"summary"`
	Regressions []string        `json:"regressions"`
}

// SeriesCases follows every case through the steps' results (the base's
// first): its outcome after each, and which patch changed it, each
// change classified as a comparison of the step before with the step
// would be. A case a step did not run is Missing there.
func SeriesCases(steps [][]result.Case) []SeriesCase {
	var ids []string
	at := make([]map[string]result.Outcome, len(steps))
	seen := map[string]bool{}
	for i, cs := range steps {
		at[i] = map[string]result.Outcome{}
		for _, c := range cs {
			at[i][c.ID] = c.Outcome
			if !seen[c.ID] {
				seen[c.ID] = true
				ids = append(ids, c.ID)
			}
		}
	}
	var out []SeriesCase
	for _, id := range ids {
		sc := SeriesCase{ID: id}
		for i := range steps {
			o, ok := at[i][id]
			if !ok {
				o = Missing
			}
			sc.Outcomes = append(sc.Outcomes, o)
			if i > 0 && o != sc.Outcomes[i-1] {
				sc.Changes = append(sc.Changes, SeriesChange{Patch: i, From: sc.Outcomes[i-1], To: o, Verdict: Classify(sc.Outcomes[i-1], o)})
			}
		}
		sc.Verdict = Classify(sc.Outcomes[0], sc.Outcomes[len(sc.Outcomes)-1])
		out = append(out, sc)
	}
	return out
}

// seriesRegressions are the cases whose whole-series verdict is Regressed.
func seriesRegressions(cs []SeriesCase) []string {
	r := []string{}
	for _, c := range cs {
		if c.Verdict == Regressed {
			r = append(r, c.ID)
		}
	}
	return r
}

// SeriesTable prints one line per case that a patch changed: the case,
// its outcome on the base and at the end, and each change with its patch.
func SeriesTable(w io.Writer, s *Series) {
	width := len("CASE")
	for _, c := range s.Cases {
		if len(c.Changes) > 0 {
			width = max(width, len(c.ID))
		}
	}
	n := 0
	for _, c := range s.Cases {
		if len(c.Changes) == 0 {
			continue
		}
		if n == 0 {
			fmt.Fprintf(w, "%-*s  %-11s  %-11s  %s\n", width, "CASE", "BASE", "SERIES", "CHANGED BY")
		}
		n++
		var ch []string
		for _, x := range c.Changes {
			ch = append(ch, fmt.Sprintf("patch %d (%s -> %s, %s)", x.Patch, x.From, x.To, x.Verdict))
		}
		fmt.Fprintf(w, "%-*s  %-11s  %-11s  %s\n", width, c.ID, c.Outcomes[0], c.Outcomes[len(c.Outcomes)-1], strings.Join(ch, "; "))
	}
	fmt.Fprintf(w, "%d of %d cases changed over %d patch(es)\n", n, len(s.Cases), len(s.Steps)-1)
	for _, st := range s.Steps[1:] {
		fmt.Fprintf(w, "  patch %d: %s (%s)\n", st.Patches, st.Subject, st.Status)
	}
}

// seriesMarkdown is series.md: the patches, then a table of every case a
// patch changed, with its outcome after each step.
func seriesMarkdown(w io.Writer, s *Series) {
	fmt.Fprintf(w, "### vmtest: clone3() set_tid matrix, patch by patch\n\n| step | patch | kernel run |\n|---|---|---|\n")
	for _, st := range s.Steps {
		subj := "base"
		if st.Patches > 0 {
			subj = fmt.Sprintf("%d: %s", st.Patches, st.Subject)
		}
		fmt.Fprintf(w, "| %d | %s | %s, %s |\n", st.Patches, cell(subj), st.Status, outcomes(st.Summary))
	}
	head := "| case |"
	sep := "|---|"
	for i := range s.Steps {
		head += fmt.Sprintf(" %d |", i)
		sep += "---|"
	}
	n := 0
	for _, c := range s.Cases {
		if len(c.Changes) == 0 {
			continue
		}
		if n == 0 {
			fmt.Fprintf(w, "\n#### changed cases\n\n%s changed by |\n%s---|\n", head, sep)
		}
		n++
		row := "| `" + c.ID + "` |"
		for _, o := range c.Outcomes {
			row += " " + string(o) + " |"
		}
		var ch []string
		for _, x := range c.Changes {
			ch = append(ch, fmt.Sprintf("%d (%s)", x.Patch, x.Verdict))
		}
		fmt.Fprintf(w, "%s %s |\n", row, strings.Join(ch, ", "))
	}
	fmt.Fprintf(w, "\n%d of %d cases changed; %d unchanged by every patch.\n", n, len(s.Cases), len(s.Cases)-n)
}

// RunSeries builds and runs the base and each prefix of a patch series:
// kernel is a build spec whose patches (files, each of which may be an
// mbox of several) are the series, and step K is its tree and config
// with the first K patches. The builds run one after the other, each
// seeded from the one before (kbuild), and each step's VM right after
// its build. The series directory (o.Out, default
// results/series-<time>) is staged and committed whole, as Run does it;
// o.Confirm is not used. A failed build is an error naming its step; a
// step's failed run is not (its status says so).
func RunSeries(ctx context.Context, kernel *run.KernelRef, o Options) (*Series, string, error) {
	if kernel == nil || kernel.Kind != run.KernelBuild || len(kernel.Spec.Patches) == 0 {
		return nil, "", inputerr.Errorf("kernel", "", "--each-patch needs a build spec with the series' patches: build[:tree=DIR,]patch=FILE[,patch=FILE...]")
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	if err := o.Run.Check(); err != nil {
		return nil, "", err
	}
	if len(o.Run.Exec) > 0 {
		return nil, "", inputerr.Errorf("exec", "", "runs programs instead of the matrix; --each-patch follows the matrix's cases")
	}
	if !isSeriesDir(o.Out) {
		if err := run.CheckOut(o.Out, o.Force); err != nil {
			return nil, "", err
		}
	} else if !o.Force {
		return nil, "", inputerr.New("out", o.Out, run.ErrEarlierResult)
	}
	patches, err := kbuild.ReadPatches(kernel.Spec.Patches)
	if err != nil {
		return nil, "", err
	}
	cache := o.Run.CacheDir
	if cache == "" {
		cache = run.DefaultCacheDir()
	}
	files, err := splitSeries(cache, patches)
	if err != nil {
		return nil, "", err
	}
	outDir := o.Out
	if outDir == "" {
		outDir = run.DefaultOut("series")
	}
	outDir, _ = filepath.Abs(outDir)
	staging, err := run.NewStaging(outDir)
	if err != nil {
		return nil, "", err
	}
	defer staging.Discard()
	stage := staging.Dir
	s := &Series{Kernel: kernel.Arg}
	var results [][]result.Case
	for k := 0; k <= len(files); k++ {
		ref := *kernel
		ref.Spec.Patches = files[:k]
		label := fmt.Sprintf("step %d/%d", k, len(files))
		bz, m, err := ref.Obtain(ctx, run.ObtainOptions{CacheDir: o.Run.CacheDir, Jobs: o.Jobs, Progress: func(l string) { fmt.Fprintf(progress, "%s build: %s\n", label, l) }})
		if err != nil {
			if ctx.Err() != nil {
				return nil, "", &stopped{label + ": interrupted (no kernel was built or cached)", ctx.Err()}
			}
			return nil, "", fmt.Errorf("%s (%d of the series' patches): %w", label, k, err)
		}
		ro := o.Run
		ro.Kernel, ro.Progress = bz, &prefixWriter{mu: &sync.Mutex{}, w: progress, prefix: label + ": "}
		p, err := run.Prepare(ro)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", label, err)
		}
		name := fmt.Sprintf("step-%d", k)
		res, err := p.Into(filepath.Join(stage, name), filepath.Join(outDir, name)).Run(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil, "", &stopped{label + ": interrupted before its VM started", ctx.Err()}
			}
			return nil, "", fmt.Errorf("%s: %w", label, err)
		}
		st := SeriesStep{Patches: k, Build: m, Dir: filepath.Join(outDir, name), Status: res.Status, Summary: res.Summary, Result: res}
		if k > 0 {
			st.Subject = patches[k-1].Subject
		}
		s.Steps = append(s.Steps, st)
		results = append(results, res.Cases)
		if ctx.Err() != nil {
			break // the steps that ran are written
		}
	}
	s.Cases = SeriesCases(results)
	s.Regressions = seriesRegressions(s.Cases)
	s.Summary = map[Verdict]int{}
	for _, c := range s.Cases {
		s.Summary[c.Verdict]++
	}
	js, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, "", fmt.Errorf("encode %s: %w", SeriesJSONFile, err)
	}
	var md bytes.Buffer
	seriesMarkdown(&md, s)
	err = errors.Join(
		os.WriteFile(filepath.Join(stage, SeriesJSONFile), append(js, '\n'), 0o644),
		os.WriteFile(filepath.Join(stage, SeriesMarkdownFile), md.Bytes(), 0o644))
	if err != nil {
		return nil, "", fmt.Errorf("write the series: %w", err)
	}
	if err := staging.Commit(); err != nil {
		return nil, "", err
	}
	return s, outDir, nil
}

// isSeriesDir reports whether dir is an earlier series directory.
func isSeriesDir(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, SeriesJSONFile))
	return dir != "" && err == nil && fi.Mode().IsRegular()
}

// splitSeries writes each patch of the series to a file of its own, so
// that every prefix is a list of files even where one file was an mbox
// of several patches. The files are named by content in the cache, so
// the same series gives the same build specs, and cache hits, each time.
func splitSeries(cache string, patches []kbuild.Patch) ([]string, error) {
	dir := filepath.Join(cache, "series")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("make the series directory: %w", err)
	}
	var files []string
	for _, p := range patches {
		sum := sha256.Sum256(p.Data)
		f := filepath.Join(dir, hex.EncodeToString(sum[:16])+".patch")
		if _, err := os.Stat(f); err != nil {
			if err := os.WriteFile(f, p.Data, 0o644); err != nil {
				return nil, fmt.Errorf("write patch %q: %w", p.Subject, err)
			}
		}
		files = append(files, f)
	}
	return files, nil
}
