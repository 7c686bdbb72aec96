package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/vmtest/vmtest/host/build"
	"github.com/vmtest/vmtest/host/compare"
	"github.com/vmtest/vmtest/host/run"
)

// side is one kernel of a comparison as given on the command line.
type side struct {
	label string // "base" or "patched"
	arg   string // what the user passed
	// Exactly one of these is set once resolved.
	resultDir string
	spec      *build.Spec
	cfgs      []string
	kernel    string // bzImage path (given or built)

	manifest *build.Manifest
	prepared *run.Prepared
	res      *run.Result
	err      error
}

// resolveSide decides what a --base/--kernel value is: an earlier result
// directory, a build spec or a bzImage.
func resolveSide(label, arg string) (*side, error) {
	s := &side{label: label, arg: arg}
	switch {
	case arg == "":
		return nil, fmt.Errorf("no %s kernel given", label)
	case build.IsSpec(arg):
		sp, cfgs, err := build.ParseSpec(arg)
		if err != nil {
			return nil, err
		}
		s.spec, s.cfgs = &sp, cfgs
	default:
		fi, err := os.Stat(arg)
		if err == nil && fi.IsDir() {
			if _, err := os.Stat(filepath.Join(arg, "result.json")); err != nil {
				return nil, fmt.Errorf("%s: %s is a directory without result.json (give a bzImage, a build spec or an earlier result directory)", label, arg)
			}
			s.resultDir = arg
		} else {
			s.kernel = arg // run.Prepare checks it
		}
	}
	return s, nil
}

// prefixWriter prefixes each line, so two VMs' progress can share stderr.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
	}
}

// Comparison is comparison.json.
type Comparison struct {
	Base        sideJSON                `json:"base"`
	Patched     sideJSON                `json:"patched"`
	Summary     map[compare.Verdict]int `json:"summary"`
	Regressions []string                `json:"regressions"`
	Cases       []compare.Case          `json:"cases"`
}

type sideJSON struct {
	Source string          `json:"source"`
	Kind   string          `json:"kind"` // bzimage, build, result
	Build  *build.Manifest `json:"build,omitempty"`
	Result *run.Result     `json:"result"`
}

func cmdCompare(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	baseArg := fs.String("base", "", "base (unpatched) kernel: a bzImage, a build spec (build[:tree=DIR,config=FRAG,patch=FILE,...]) or an earlier result directory")
	patchedArg := fs.String("kernel", "", "patched kernel: a bzImage, a build spec or an earlier result directory")
	out := fs.String("out", "", "comparison directory (default results/compare-<time>)")
	accel := fs.String("accel", "auto", "auto, kvm or tcg")
	var cases caseFlag
	fs.Var(&cases, "case", "run only cases whose ID matches this glob (repeatable)")
	qemuBin := fs.String("qemu", "", "QEMU binary (default qemu-system-x86_64 from PATH)")
	cache := fs.String("cache", "", "cache directory (default ~/.cache/vmtest)")
	jobs := fs.Int("j", 0, "parallel make jobs for build specs (default: number of CPUs)")
	jsonOut := fs.Bool("json", false, "print comparison.json instead of the table")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vmtest compare: unexpected argument %q (kernels are given with --base and --kernel)\n", fs.Arg(0))
		return exitUsage
	}
	var sides []*side
	for _, a := range [][2]string{{"base", *baseArg}, {"patched", *patchedArg}} {
		s, err := resolveSide(a[0], a[1])
		if err != nil {
			fmt.Fprintf(stderr, "vmtest compare: %v\n", err)
			return exitUsage
		}
		sides = append(sides, s)
	}
	opts := func(s *side) run.Options {
		return run.Options{Kernel: s.kernel, Accel: *accel, Cases: cases, QEMU: *qemuBin, CacheDir: *cache}
	}
	// Check every given bzImage before building anything: bad input must
	// not cost a kernel build.
	for _, s := range sides {
		if s.kernel != "" {
			p, err := run.Prepare(opts(s))
			if err != nil {
				fmt.Fprintf(stderr, "vmtest compare: %s: ", s.label)
				return reportErr(stderr, err)
			}
			s.prepared = p
		}
	}
	// Builds run one after the other: each already uses every CPU.
	for _, s := range sides {
		if s.spec == nil {
			continue
		}
		m, err := buildKernel(ctx, *s.spec, s.cfgs, *cache, *jobs, func(l string) { fmt.Fprintf(stderr, "%s build: %s\n", s.label, l) })
		if err != nil {
			return buildErr(stderr, "vmtest compare: "+s.label, err)
		}
		s.manifest, s.kernel = m, m.BzImage
		if m.Cached {
			fmt.Fprintf(stderr, "%s build: cached %s\n", s.label, m.BzImage)
		}
		p, err := run.Prepare(opts(s))
		if err != nil {
			return reportErr(stderr, err)
		}
		s.prepared = p
	}

	outDir := *out
	if outDir == "" {
		outDir = filepath.Join("results", "compare-"+time.Now().UTC().Format("20060102-150405"))
	}
	outDir, _ = filepath.Abs(outDir)
	if err := os.MkdirAll(filepath.Dir(outDir), 0o755); err != nil {
		fmt.Fprintf(stderr, "vmtest compare: %v\n", err)
		return exitInfra
	}
	stage, err := os.MkdirTemp(filepath.Dir(outDir), "."+filepath.Base(outDir)+".partial-")
	if err != nil {
		fmt.Fprintf(stderr, "vmtest compare: %v\n", err)
		return exitInfra
	}
	defer os.RemoveAll(stage) // a no-op once renamed

	// Both VMs run at once: under TCG each is single-digit seconds of CPU
	// per case, and the results are independent.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range sides {
		if s.resultDir != "" {
			s.res, s.err = run.Load(s.resultDir)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := opts(s)
			o.Kernel, o.Out, o.FinalDir = s.kernel, filepath.Join(stage, s.label), filepath.Join(outDir, s.label)
			o.Progress = &prefixWriter{mu: &mu, w: stderr, prefix: fmt.Sprintf("%-8s", s.label+":")}
			p, err := run.Prepare(o)
			if err != nil {
				s.err = err
				return
			}
			s.res, s.err = p.Run(ctx)
		}()
	}
	wg.Wait()
	for _, s := range sides {
		if s.err != nil {
			fmt.Fprintf(stderr, "vmtest compare: %s: ", s.label)
			return reportErr(stderr, s.err)
		}
	}
	base, patched := sides[0], sides[1]
	cs := compare.Cases(base.res.Cases, patched.res.Cases)
	cmp := Comparison{
		Base: sideJSONOf(base), Patched: sideJSONOf(patched),
		Summary: compare.Count(cs), Regressions: compare.Regressions(cs), Cases: cs,
	}
	if cmp.Regressions == nil {
		cmp.Regressions = []string{}
	}
	js, _ := json.MarshalIndent(cmp, "", "  ")
	var md bytes.Buffer
	compare.Markdown(&md, mdSide(base), mdSide(patched), cs)
	// Nothing half-written is moved into place: the stage is removed on
	// any error.
	err = errors.Join(
		os.WriteFile(filepath.Join(stage, "comparison.json"), append(js, '\n'), 0o644),
		os.WriteFile(filepath.Join(stage, "comparison.md"), md.Bytes(), 0o644))
	if err != nil {
		fmt.Fprintf(stderr, "vmtest compare: write the comparison: %v\n", err)
		return exitInfra
	}
	if _, err := os.Stat(outDir); err == nil {
		os.RemoveAll(outDir)
	}
	if err := os.Rename(stage, outDir); err != nil {
		fmt.Fprintf(stderr, "vmtest compare: write %s: %v\n", outDir, err)
		return exitInfra
	}
	if *jsonOut {
		stdout.Write(append(js, '\n'))
	} else {
		compare.Table(stdout, cs)
		fmt.Fprintln(stdout, compare.SummaryLine(cs))
	}
	fmt.Fprintf(stderr, "comparison: %s (comparison.json, comparison.md)\n", outDir)
	for _, s := range sides {
		if s.res.Infra() {
			fmt.Fprintf(stderr, "vmtest compare: %s run: %s: %s\n", s.label, s.res.Status, s.res.StatusDetail)
			if s.res.Crash != "" {
				fmt.Fprintf(stderr, "--- %s console excerpt ---\n%s\n---\n", s.label, s.res.Crash)
			}
			return exitInfra
		}
	}
	if len(cmp.Regressions) > 0 {
		fmt.Fprintf(stderr, "vmtest compare: %d regressed: %s\n", len(cmp.Regressions), strings.Join(cmp.Regressions, ", "))
		return exitFailed
	}
	return exitOK
}

func sideJSONOf(s *side) sideJSON {
	j := sideJSON{Source: s.arg, Build: s.manifest, Result: s.res}
	switch {
	case s.resultDir != "":
		j.Kind = "result"
	case s.spec != nil:
		j.Kind = "build"
	default:
		j.Kind = "bzimage"
	}
	return j
}

func mdSide(s *side) compare.Side {
	return compare.Side{Label: s.label, Kernel: s.res.Kernel.Release, Source: s.arg, Accel: s.res.Accel, Summary: s.res.Summary}
}
