// Package formats writes every report format vmtest offers into a result
// or comparison directory, beside result.json and comparison.json: JUnit
// XML for CI test tabs, KCIDB JSON for KernelCI, nested KTAP for KTAP
// tools, and one self-contained HTML page for people. The CLI calls one
// entry point per kind of directory; each format's package does the
// rendering, and this one maps vmtest's results onto them.
package formats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmtest/vmtest/host/compare"
	"github.com/vmtest/vmtest/host/htmlreport"
	"github.com/vmtest/vmtest/host/junit"
	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/kcidb"
	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/atomicfile"
	"github.com/vmtest/vmtest/internal/ktap"
	"github.com/vmtest/vmtest/internal/result"
)

// The files written into a directory.
const (
	JUnitFile = "junit.xml"
	KCIDBFile = "kcidb.json"
	// KTAPFile is the nested KTAP document; beside it in a run directory
	// is StreamFile, the guest's flat stream as QEMU wrote it.
	KTAPFile   = "results.ktap"
	StreamFile = qemu.ResultsFile
	HTMLFile   = "report.html"
)

// Options are the settings every format shares.
type Options struct {
	// Origin is the KCIDB origin, the submitting CI system's name
	// (kcidb.DefaultOrigin when empty).
	Origin string
	// Build is the manifest of the `vmtest build` that made the kernel,
	// nil for a prebuilt image (WriteRun and WriteRepeat).
	Build *kbuild.Manifest
}

// Check validates the options before anything runs, so that a bad
// --kcidb-origin is a usage error and not a lost report after the boot.
func (o Options) Check() error {
	if o.Origin == "" {
		return nil
	}
	return kcidb.CheckOrigin(o.Origin)
}

// WriteRun writes junit.xml, kcidb.json, results.ktap (nested; the
// guest's flat stream stays in stream.ktap) and report.html into the
// result directory dir of the run res.
func WriteRun(dir string, res *run.Result, o Options) error {
	if res == nil {
		return errors.New("write formats: no result")
	}
	return writeRun(dir, res, nil, o)
}

// WriteRepeat writes the formats of a repeated run (run --repeat) into
// its top directory: each case once, as it came out in the first boot
// where it failed (else the first boot), and every case whose outcome
// differed between boots marked flaky. runs are the boots' results in
// order (rr.Runs' directories hold each boot's own formats: call WriteRun
// for those).
func WriteRepeat(dir string, rr *run.RepeatResult, runs []*run.Result, o Options) error {
	if rr == nil || len(runs) == 0 {
		return errors.New("write formats: a repeated run without boots")
	}
	merged, flaky := MergeRepeat(rr, runs)
	return writeRun(dir, merged, flaky, o)
}

// MergeRepeat is the one result a repeated run's report shows: the first
// completed boot's (else the first boot's), with each case taken from
// the first completed boot in which it failed or errored, and the flaky
// cases' outcomes over the boots ("pass fail pass").
func MergeRepeat(rr *run.RepeatResult, runs []*run.Result) (*run.Result, map[string]string) {
	base := runs[0]
	for _, r := range runs {
		if r.Status == run.Completed {
			base = r
			break
		}
	}
	merged := *base
	merged.Cases = append([]result.Case(nil), base.Cases...)
	at := map[string]int{}
	for i, c := range merged.Cases {
		at[c.ID] = i
	}
	for _, r := range runs {
		if r.Status != run.Completed {
			continue
		}
		for _, c := range r.Cases {
			i, ok := at[c.ID]
			if ok && c.Outcome.Failed() && !merged.Cases[i].Outcome.Failed() {
				merged.Cases[i] = c
			}
		}
	}
	merged.Summary = map[result.Outcome]int{}
	for _, c := range merged.Cases {
		merged.Summary[c.Outcome]++
	}
	flaky := map[string]string{}
	for _, c := range rr.Cases {
		if c.Flaky {
			var os []string
			for _, o := range c.Outcomes {
				os = append(os, string(o))
			}
			flaky[c.ID] = strings.Join(os, " ")
		}
	}
	return &merged, flaky
}

func writeRun(dir string, res *run.Result, flaky map[string]string, o Options) error {
	files, err := render(inputs{
		junit:  junit.Build("vmtest "+res.Kernel.Release, runTests(res, flaky), runProperties(res, o.Build), res.Timings.StartedAt),
		kcidb:  []kcidb.Run{{Result: res, Build: o.Build, Flaky: flaky}},
		origin: o.Origin,
		cases:  res.Cases, info: ktapInfo(res),
		page: func(w io.Writer) error {
			return htmlreport.Run(w, htmlreport.RunPage{Result: res, Build: o.Build, Flaky: flaky})
		},
	})
	if err != nil {
		return err
	}
	return writeFiles(dir, files)
}

// inputs are what the four files of a directory are made from.
type inputs struct {
	junit  junit.Suites
	kcidb  []kcidb.Run
	origin string
	// cases and info make the nested KTAP document.
	cases []result.Case
	info  []ktap.KeyValue
	page  func(io.Writer) error
}

// render makes every file in memory first: nothing is written unless all
// of them could be made.
func render(in inputs) ([]file, error) {
	var j bytes.Buffer
	if err := junit.Write(&j, in.junit); err != nil {
		return nil, err
	}
	data, err := kcidb.Encode(in.kcidb, kcidb.Options{Origin: in.origin})
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", KCIDBFile, err)
	}
	k, err := json.MarshalIndent(data, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", KCIDBFile, err)
	}
	var t bytes.Buffer
	if err := ktap.WriteNested(&t, in.cases, ktap.Nested{Info: in.info}); err != nil {
		return nil, err
	}
	var h bytes.Buffer
	if err := in.page(&h); err != nil {
		return nil, err
	}
	return []file{{JUnitFile, j.Bytes()}, {KCIDBFile, append(k, '\n')}, {KTAPFile, t.Bytes()}, {HTMLFile, h.Bytes()}}, nil
}

// LoadComparison reads dir/comparison.json back (compare.Comparison), for a
// comparison directory written earlier.
func LoadComparison(dir string) (*compare.Comparison, error) {
	b, err := os.ReadFile(filepath.Join(dir, compare.JSONFile))
	if err != nil {
		return nil, fmt.Errorf("read comparison: %w", err)
	}
	var c compare.Comparison
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("%s/comparison.json is not a vmtest comparison: %w", dir, err)
	}
	if c.Base.Result == nil || c.Patched.Result == nil {
		return nil, fmt.Errorf("%s/comparison.json is not a vmtest comparison (a side has no result)", dir)
	}
	return &c, nil
}

// WriteComparison writes junit.xml (the patch judged case by case: a
// regression fails, a flaky case is marked), kcidb.json (both kernels'
// checkouts, builds and tests), results.ktap (the patched kernel's cases,
// nested) and report.html (the verdicts side by side) into the
// comparison directory dir. The sides' own directories get WriteRun.
func WriteComparison(dir string, c *compare.Comparison, o Options) error {
	if c == nil || c.Base.Result == nil || c.Patched.Result == nil {
		return errors.New("write formats: a comparison needs both sides' results")
	}
	props := append(sideProperties("base", c.Base), sideProperties("patched", c.Patched)...)
	props = append(props, junit.Property{Name: "confirm_rounds", Value: fmt.Sprint(c.Confirm)})
	flaky := map[string]string{}
	for _, cc := range c.Cases {
		if cc.Verdict == compare.Flaky {
			flaky[cc.ID] = rerunText(cc)
		}
	}
	page := htmlreport.ComparePage{
		Base:    htmlreport.ComparedSide{Label: "base", Source: c.Base.Source, Result: c.Base.Result, Build: c.Base.Build},
		Patched: htmlreport.ComparedSide{Label: "patched", Source: c.Patched.Source, Result: c.Patched.Result, Build: c.Patched.Build},
		Cases:   c.Cases, ConfirmRounds: c.Confirm,
	}
	files, err := render(inputs{
		junit: junit.Build("vmtest compare "+c.Base.Result.Kernel.Release+" vs "+c.Patched.Result.Kernel.Release,
			comparisonTests(c), props, c.Patched.Result.Timings.StartedAt),
		kcidb: []kcidb.Run{
			{Label: "base", Result: c.Base.Result, Build: c.Base.Build},
			{Label: "patched", Result: c.Patched.Result, Build: c.Patched.Build, Flaky: flaky},
		},
		origin: o.Origin,
		cases:  c.Patched.Result.Cases,
		info:   append([]ktap.KeyValue{{Key: "comparison", Value: "the patched kernel's cases; base: " + c.Base.Result.Kernel.Release}}, ktapInfo(c.Patched.Result)...),
		page:   func(w io.Writer) error { return htmlreport.Comparison(w, page) },
	})
	if err != nil {
		return err
	}
	return writeFiles(dir, files)
}

// runTests are a run's cases for JUnit.
func runTests(res *run.Result, flaky map[string]string) []junit.Test {
	var ts []junit.Test
	for _, c := range res.Cases {
		t := junit.Test{Case: c, Flaky: flaky[c.ID]}
		if c.Outcome == result.Error && strings.HasPrefix(c.Reason, "not run") && res.Crash != "" {
			t.Detail = "console excerpt:\n" + res.Crash
		}
		ts = append(ts, t)
	}
	return ts
}

// comparisonTests judges the patch per case: a regression is a failure
// (what makes `vmtest compare` exit 1), a flaky case a pass marked flaky,
// a case failing on both kernels or running on neither is skipped (the
// patch did not change it), and fixes and unchanged passes pass.
func comparisonTests(c *compare.Comparison) []junit.Test {
	patched := map[string]result.Case{}
	for _, pc := range c.Patched.Result.Cases {
		patched[pc.ID] = pc
	}
	var ts []junit.Test
	for _, cc := range c.Cases {
		rc, ok := patched[cc.ID]
		if !ok {
			rc = result.Case{ID: cc.ID, Group: cc.Group, Outcome: cc.Patched}
		}
		t := junit.Test{Case: rc}
		sides := fmt.Sprintf("%s: base %s, patched %s", cc.Verdict, cc.Base, cc.Patched)
		if cc.Verdict != compare.UnchangedPass {
			t.Detail = sides
			if cc.BaseObserved != "" || cc.BaseReason != "" {
				t.Detail += "\nbase saw: " + or(cc.BaseObserved, cc.BaseReason)
			}
		}
		switch cc.Verdict {
		case compare.Regressed:
			t.Outcome = result.Fail
			t.Message = sides + " (expected " + or(cc.Expected, "?") + ", patched saw " + or(cc.PatchedObserved, cc.PatchedReason, "nothing") + ")"
		case compare.Flaky:
			t.Outcome = result.Pass
			t.Flaky = rerunText(cc)
		case compare.StillFailing, compare.Unsupported:
			t.Outcome = result.Skip
			t.Message = sides + " (the patch did not change it)"
		default:
			t.Outcome = result.Pass
		}
		ts = append(ts, t)
	}
	return ts
}

// rerunText is a flaky case's outcomes: "base pass pass; patched fail pass".
func rerunText(c compare.Case) string {
	var parts []string
	for _, s := range []struct {
		label string
		first result.Outcome
		re    []result.Outcome
	}{{"base", c.Base, c.BaseReruns}, {"patched", c.Patched, c.PatchedReruns}} {
		os := []string{string(s.first)}
		for _, o := range s.re {
			os = append(os, string(o))
		}
		parts = append(parts, s.label+" "+strings.Join(os, " "))
	}
	return strings.Join(parts, "; ")
}

// runProperties are the suite properties of a run: what was booted, how,
// and how it ended.
func runProperties(res *run.Result, m *kbuild.Manifest) []junit.Property {
	p := []junit.Property{
		{Name: "kernel.release", Value: res.Kernel.Release},
		{Name: "kernel.version", Value: res.Kernel.Version},
		{Name: "kernel.sha256", Value: res.Kernel.SHA256},
		{Name: "accel", Value: res.Accel},
		{Name: "run_id", Value: res.RunID},
		{Name: "status", Value: string(res.Status)},
	}
	if res.CrashTitle != "" {
		p = append(p, junit.Property{Name: "crash_title", Value: res.CrashTitle})
	}
	if m != nil {
		for _, pi := range m.Patches {
			p = append(p, junit.Property{Name: fmt.Sprintf("patch.%d", pi.Index), Value: pi.SHA256 + " " + pi.Subject})
		}
	}
	return p
}

func sideProperties(label string, s compare.SideResult) []junit.Property {
	var out []junit.Property
	for _, p := range runProperties(s.Result, s.Build) {
		p.Name = label + "." + p.Name
		out = append(out, p)
	}
	return out
}

// ktapInfo is the header of the nested KTAP document.
func ktapInfo(res *run.Result) []ktap.KeyValue {
	kv := []ktap.KeyValue{
		{Key: "vmtest run", Value: res.RunID},
		{Key: "kernel", Value: res.Kernel.Release},
		{Key: "kernel sha256", Value: res.Kernel.SHA256},
		{Key: "accel", Value: res.Accel},
		{Key: "status", Value: string(res.Status)},
	}
	if res.CrashTitle != "" {
		kv = append(kv, ktap.KeyValue{Key: "kernel report", Value: res.CrashTitle})
	}
	return kv
}

type file struct {
	name string
	data []byte
}

// writeFiles writes each file under a temporary name and renames it, so
// a reader never sees half a report.
func writeFiles(dir string, files []file) error {
	for _, f := range files {
		if err := atomicfile.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func or(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
