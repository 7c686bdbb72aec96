// Package run is the host orchestrator of `vmtest run`: it validates the
// kernel, builds (or reuses) the initramfs, boots QEMU, follows the KTAP
// stream and the console as they are written, classifies how the run ended,
// and writes the result directory.
package run

import (
	"bufio"
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
	"time"

	"github.com/vmtest/vmtest/guest/agent"
	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/host/bzimage"
	"github.com/vmtest/vmtest/host/initramfs"
	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/ktap"
	"github.com/vmtest/vmtest/internal/result"
)

// UsageError is bad input: nothing was booted. The CLI exits 2 for it.
type UsageError struct{ Err error }

// Error returns the problem with the input.
func (e *UsageError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *UsageError) Unwrap() error { return e.Err }

// Options configure one run.
type Options struct {
	Kernel string
	Accel  string // auto | kvm | tcg
	Cases  []string
	// Out is the result directory; empty means results/<run-id>.
	Out      string
	QEMU     string
	CacheDir string
	// Agent is the static guest agent binary (default: this executable).
	Agent string
	// Debug is passed to the agent (panic, hang, silent) to exercise the
	// host's failure handling.
	Debug    string
	Timeouts Timeouts
	// VerboseConsole keeps the kernel's whole boot log in console.log.
	VerboseConsole bool
	// Append holds extra kernel command-line parameters.
	Append []string
	// FinalDir is where the caller will move Out afterwards (compare
	// stages both runs in one directory); result.json names it instead.
	FinalDir string
	// Exec, when set, carries these static programs into the guest and
	// runs them instead of the matrix, timing each (the upstream clone3
	// kselftests, say); the times land in Result.Guest.
	Exec []string
	// Progress receives one line per event; nil discards.
	Progress io.Writer
}

// Timeouts bound each phase. Zero values get defaults scaled for the
// accelerator: TCG is an interpreter, several times slower than KVM.
type Timeouts struct {
	// Boot is the time from QEMU start to the agent's KTAP header.
	Boot time.Duration
	// Case is the time one case may take (enforced in the guest; the host
	// allows a grace period on top before declaring the guest stuck).
	Case time.Duration
	// Run bounds the whole VM.
	Run time.Duration
}

func (t Timeouts) withDefaults(a qemu.Accel) Timeouts {
	scale := time.Duration(1)
	if a == qemu.TCG {
		scale = 3
	}
	if t.Boot == 0 {
		t.Boot = 20 * time.Second * scale
	}
	if t.Case == 0 {
		t.Case = 20 * time.Second * scale
	}
	if t.Run == 0 {
		t.Run = 5 * time.Minute * scale
	}
	return t
}

// Status classifies how the VM run ended, independently of case outcomes.
type Status string

// The statuses. Everything but Completed is an infrastructure failure.
const (
	Completed   Status = "completed"
	Crashed     Status = "crashed"      // kernel panic or oops
	BootTimeout Status = "boot-timeout" // no sign of life from the agent
	CaseTimeout Status = "case-timeout" // the stream stalled mid-run
	RunTimeout  Status = "run-timeout"
	NoDone      Status = "no-done-record" // the VM ended before the done record
	QEMUFailed  Status = "qemu-failed"
	// Interrupted: the user (SIGINT) or CI (SIGTERM) stopped the run; the
	// cases that finished before are kept. The CLI exits 130 for it.
	Interrupted Status = "interrupted"
)

// Result is result.json.
type Result struct {
	RunID  string `json:"run_id"`
	Kernel struct {
		Path    string `json:"path"`
		SHA256  string `json:"sha256"`
		Version string `json:"version"`
		Release string `json:"release"`
	} `json:"kernel"`
	QEMU struct {
		// Cmdline re-runs the VM from its result directory (what
		// qemu-cmdline.sh does); Argv is what ran.
		Cmdline string   `json:"cmdline"`
		Argv    []string `json:"argv"`
		Dir     string   `json:"dir"`
	} `json:"qemu"`
	Accel        string            `json:"accel"`
	AccelWarning string            `json:"accel_warning,omitempty"`
	Status       Status            `json:"status"`
	StatusDetail string            `json:"status_detail,omitempty"`
	Crash        string            `json:"crash_excerpt,omitempty"`
	Guest        map[string]string `json:"guest,omitempty"`
	Timings      struct {
		StartedAt  time.Time `json:"started_at"`
		BootMS     float64   `json:"boot_ms"`
		CasesMS    float64   `json:"cases_ms"`
		TotalMS    float64   `json:"total_ms"`
		GuestSumMS float64   `json:"guest_case_sum_ms"`
	} `json:"timings"`
	Summary map[result.Outcome]int `json:"summary"`
	Cases   []result.Case          `json:"cases"`
}

// Infra reports whether the run failed for reasons other than cases.
func (r *Result) Infra() bool { return r.Status != Completed }

// Failed reports whether any case failed or errored.
func (r *Result) Failed() bool {
	for _, c := range r.Cases {
		if c.Outcome.Failed() {
			return true
		}
	}
	return false
}

// Prepared is a validated run, ready to boot.
type Prepared struct {
	opts      Options
	kinfo     bzimage.Info
	qemuBin   string
	cases     []matrix.Case
	initramfs string
}

// Prepare validates everything that can be validated without booting:
// the kernel image, the case patterns, QEMU, the agent binary. Its errors
// are *UsageError.
func Prepare(opts Options) (*Prepared, error) {
	p := &Prepared{opts: opts}
	var err error
	if opts.Kernel == "" {
		return nil, &UsageError{errors.New("no kernel: pass --kernel PATH/bzImage")}
	}
	if p.kinfo, err = bzimage.Check(opts.Kernel); err != nil {
		return nil, &UsageError{err}
	}
	c, err := opts.check()
	if err != nil {
		return nil, err
	}
	p.cases, p.qemuBin, p.opts.Agent = c.cases, c.qemuBin, c.agent
	return p, nil
}

// Kernel describes the validated kernel.
func (p *Prepared) Kernel() bzimage.Info { return p.kinfo }

// Run boots the VM and collects the result. Its result directory is
// complete or absent: it is assembled under a temporary name and renamed.
func (p *Prepared) Run(ctx context.Context) (*Result, error) {
	opts := p.opts
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	res := &Result{RunID: time.Now().UTC().Format("20060102-150405") + "-" + sanitize(p.kinfo.Release)}
	res.Timings.StartedAt = time.Now().UTC()
	absKernel, _ := filepath.Abs(opts.Kernel)
	res.Kernel.Path, res.Kernel.Version, res.Kernel.Release = absKernel, p.kinfo.Version, p.kinfo.Release
	sum, err := fileSHA256(absKernel)
	if err != nil {
		return nil, err
	}
	res.Kernel.SHA256 = sum

	cacheDir := opts.CacheDir
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	var extra []initramfs.File
	for _, e := range opts.Exec {
		extra = append(extra, initramfs.File{Path: e})
	}
	if p.initramfs, err = initramfs.Cached(p.opts.Agent, cacheDir, extra...); err != nil {
		return nil, fmt.Errorf("build initramfs: %w", err)
	}

	accel, warning, err := qemu.ChooseAccel(ctx, p.qemuBin, opts.Accel)
	if err != nil {
		return nil, &UsageError{err}
	}
	res.Accel, res.AccelWarning = string(accel), warning
	if warning != "" {
		fmt.Fprintf(progress, "warning: %s\n", warning)
	}
	to := opts.Timeouts.withDefaults(accel)

	out := opts.Out
	if out == "" {
		out = filepath.Join("results", res.RunID)
	}
	out, _ = filepath.Abs(out)
	stage, err := stageDir(out)
	if err != nil {
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			os.RemoveAll(stage)
		}
	}()

	params := []string{agent.ParamResults + "=ttyS1", fmt.Sprintf("%s=%s", agent.ParamCaseTimeout, to.Case)}
	if len(opts.Cases) > 0 {
		params = append(params, agent.ParamCases+"="+strings.Join(opts.Cases, ","))
	}
	if opts.Debug != "" {
		params = append(params, agent.ParamDebug+"="+opts.Debug)
	}
	if len(opts.Exec) > 0 {
		params = append(params, agent.ParamExec+"=1")
	}
	// Results through shared memory where QEMU has ivshmem; otherwise the
	// agent writes through the debug port or the UART.
	var pump *shmPump
	if qemu.HasDevice(ctx, p.qemuBin, "ivshmem-plain") {
		if pump, err = startShmPump(filepath.Join(stage, qemu.ResultsFile)); err != nil {
			fmt.Fprintf(progress, "warning: %v; results go through the debug port instead\n", err)
			pump = nil
		}
	} else {
		fmt.Fprintf(progress, "note: %s has no ivshmem-plain device; results go through the debug port\n", p.qemuBin)
	}
	shm := ""
	if pump != nil {
		shm = pump.path
		defer pump.stop() // on every way out; boot stops it first
	}
	cfg := qemu.New(absKernel, p.initramfs, qemu.WithBinary(p.qemuBin), qemu.WithAccel(accel),
		qemu.WithVerboseConsole(opts.VerboseConsole), qemu.WithResultsShm(shm),
		qemu.WithAppend(append(params, opts.Append...)...))
	res.QEMU.Argv = cfg.Args()
	res.QEMU.Dir = out
	if opts.FinalDir != "" {
		res.QEMU.Dir = opts.FinalDir
	}
	// The re-run line leaves the shared-memory result channel out: only
	// vmtest copies that into results.ktap. Without it the agent writes
	// through the debug port, which QEMU puts there itself.
	rerun := cfg
	rerun.ResultsShm = ""
	rerunLine := qemu.ShellLine(rerun.Args())
	res.QEMU.Cmdline = "cd " + qemu.ShellLine([]string{res.QEMU.Dir}) + " && " + rerunLine
	if err := os.WriteFile(filepath.Join(stage, "qemu-cmdline.sh"), []byte("#!/bin/sh\n# Re-run this VM: the paths are relative to this directory.\n# Results arrive in results.ktap through the debug port or the UART\n# (vmtest's own run may have used shared memory, which it copies there).\ncd \"$(dirname \"$0\")\" && exec "+rerunLine+"\n"), 0o755); err != nil {
		return nil, fmt.Errorf("save QEMU command line: %w", err)
	}

	fmt.Fprintf(progress, "booting %s under %s (%d cases)\n", p.kinfo.Release, accel, len(p.cases))
	p.boot(ctx, cfg, stage, to, res, progress, pump)
	finish(res, p.cases)

	os.Remove(filepath.Join(stage, qemu.QMPSocket))
	if err := writeJSON(filepath.Join(stage, "result.json"), res); err != nil {
		return nil, err
	}
	if err := commit(stage, out); err != nil {
		return nil, err
	}
	committed = true
	return res, nil
}

// boot runs the VM and fills res with what happened.
// pump, when not nil, copies the shared-memory result channel into the
// results file; boot stops it.
func (p *Prepared) boot(ctx context.Context, cfg qemu.Config, dir string, to Timeouts, res *Result, progress io.Writer, pump *shmPump) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// What the guest wrote to shared memory last: copy it and give the
	// tail a moment to deliver it (and what QEMU wrote last) to the parser.
	lastWords := func(results <-chan string, parser *ktap.Parser) {
		if pump != nil {
			pump.flush()
		}
		drain(results, parser, 300*time.Millisecond)
	}
	defer func() {
		if pump == nil {
			return
		}
		if err := pump.stop(); err != nil {
			// The stream may have been cut short: say so with the status.
			res.StatusDetail = strings.TrimPrefix(res.StatusDetail+"; shared-memory results: "+err.Error(), "; ")
		}
	}()
	vm, err := qemu.Start(ctx, cfg, dir)
	if err != nil {
		res.Status, res.StatusDetail = QEMUFailed, err.Error()
		return
	}
	events := vm.Events()
	results := tail(ctx, filepath.Join(dir, qemu.ResultsFile))
	parser := ktap.NewParser()
	var booted time.Time
	var shutdownReason string
	panicked := false
	runDeadline := time.NewTimer(to.Run)
	defer runDeadline.Stop()
	stall := time.NewTimer(to.Boot)
	defer stall.Stop()
	// The guest enforces the case timeout itself and reports the case as
	// an error; the host only steps in when the guest cannot (a hung
	// kernel or agent), after a grace period for that report.
	caseGrace := to.Case + max(10*time.Second, to.Case/2)

loop:
	for {
		select {
		case line, ok := <-results:
			if !ok {
				results = nil
				continue
			}
			ev, perr := parser.Feed(line)
			if perr != nil {
				fmt.Fprintf(progress, "warning: %v\n", perr)
			}
			if ev == nil {
				continue
			}
			switch ev.Kind {
			case ktap.KindVersion:
				booted = time.Now()
				res.Timings.BootMS = ms(booted.Sub(start))
				fmt.Fprintf(progress, "guest agent up after %.1fs\n", booted.Sub(start).Seconds())
				resetTimer(stall, caseGrace)
			case ktap.KindCase:
				resetTimer(stall, caseGrace)
				fmt.Fprintf(progress, "[%d/%d] %-11s %s\n", len(parser.Cases), max(parser.Plan, 0), ev.Case.Outcome, ev.Case.ID)
			case ktap.KindDone:
				res.Timings.CasesMS = ms(time.Since(booted))
				vm.Quit(5 * time.Second)
				res.Status = Completed
				break loop
			}
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			switch ev.Event {
			case "GUEST_PANICKED":
				panicked = true
			case "SHUTDOWN":
				shutdownReason = qemu.ShutdownReason(ev)
			}
		case <-vm.Exited():
			lastWords(results, parser)
			if parser.Done {
				res.Status = Completed
				break loop
			}
			res.Status = NoDone
			res.StatusDetail = fmt.Sprintf("the VM ended before the agent's done record (QEMU: %v, shutdown reason %q)", vm.ExitErr(), shutdownReason)
			if shutdownReason == "guest-reset" {
				res.StatusDetail += "; with panic=-1 a guest reset means the kernel panicked"
			}
			break loop
		case <-stall.C:
			vm.Kill()
			lastWords(results, parser)
			if booted.IsZero() {
				res.Status = BootTimeout
				res.StatusDetail = fmt.Sprintf("no sign of life from the guest agent within %s", to.Boot)
			} else {
				res.Status = CaseTimeout
				res.StatusDetail = fmt.Sprintf("no result for %s after case %d of %d", caseGrace, len(parser.Cases), parser.Plan)
			}
			break loop
		case <-runDeadline.C:
			vm.Kill()
			lastWords(results, parser)
			res.Status, res.StatusDetail = RunTimeout, fmt.Sprintf("the run exceeded %s", to.Run)
			break loop
		case <-ctx.Done():
			vm.Kill()
			lastWords(results, parser)
			res.Status, res.StatusDetail = RunTimeout, "interrupted"
			break loop
		}
	}
	cancel()
	res.Timings.TotalMS = ms(time.Since(start))
	res.Guest = parser.Info
	res.Cases = parser.Cases
	console, _ := os.ReadFile(filepath.Join(dir, qemu.ConsoleLog))
	if ex := CrashExcerpt(string(console)); ex != "" || panicked {
		res.Status = Crashed
		res.Crash = ex
		if res.StatusDetail == "" {
			res.StatusDetail = "kernel panic or oops"
		} else {
			res.StatusDetail = "kernel panic or oops: " + res.StatusDetail
		}
	}
}

// finish adds cases the guest never reported (so every selected case has
// an entry) and the summary.
func finish(res *Result, cases []matrix.Case) {
	seen := map[string]bool{}
	for i, c := range res.Cases {
		seen[c.ID] = true
		// The guest leaves out what the host knows from the matrix, to
		// keep the serial stream short.
		if m, ok := matrix.Lookup(c.ID); ok {
			if c.Group == "" {
				res.Cases[i].Group = m.Group
			}
			if c.Rule == "" {
				res.Cases[i].Rule = m.Rule
			}
		}
	}
	for _, c := range cases {
		if !seen[c.ID] {
			res.Cases = append(res.Cases, result.Case{ID: c.ID, Group: c.Group, Rule: c.Rule, Outcome: result.Error,
				Reason: "not run: " + string(res.Status)})
		}
	}
	if res.Cases == nil {
		res.Cases = []result.Case{} // "cases": [], not null, for a run of --exec programs
	}
	res.Summary = map[result.Outcome]int{}
	for _, c := range res.Cases {
		res.Summary[c.Outcome]++
		res.Timings.GuestSumMS += c.DurationMS
	}
}

// crashMarkers are console lines that mean the kernel itself failed.
var crashMarkers = []string{"Kernel panic - not syncing", "Oops:", "BUG: ", "general protection fault", "Kernel BUG at"}

// CrashExcerpt returns the console lines around the first sign of a kernel
// crash, or "" when there is none.
func CrashExcerpt(console string) string {
	lines := strings.Split(strings.ReplaceAll(console, "\r", ""), "\n")
	for i, l := range lines {
		for _, m := range crashMarkers {
			if strings.Contains(l, m) {
				from := max(0, i-5)
				to := min(len(lines), i+25)
				return strings.Join(lines[from:to], "\n")
			}
		}
	}
	return ""
}

// tail follows a file QEMU appends to and sends complete lines.
func tail(ctx context.Context, path string) <-chan string {
	ch := make(chan string, 256)
	go func() {
		defer close(ch)
		var f *os.File
		for f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				select {
				case <-ctx.Done():
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
		defer f.Close()
		r := bufio.NewReader(f)
		var partial strings.Builder
		for {
			s, err := r.ReadString('\n')
			partial.WriteString(s)
			if err == nil {
				select {
				case ch <- partial.String():
				case <-ctx.Done():
					return
				}
				partial.Reset()
				continue
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(15 * time.Millisecond):
			}
		}
	}()
	return ch
}

func drain(ch <-chan string, p *ktap.Parser, wait time.Duration) {
	if ch == nil {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case line, ok := <-ch:
			if !ok {
				return
			}
			p.Feed(line)
		case <-t.C:
			return
		}
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func sanitize(s string) string {
	if s == "" {
		return "kernel"
	}
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("hash kernel: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash kernel: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// DefaultCacheDir is $XDG_CACHE_HOME/vmtest or ~/.cache/vmtest.
func DefaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "vmtest")
	}
	return filepath.Join(os.TempDir(), "vmtest-cache")
}

func stageDir(out string) (string, error) {
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", parent, err)
	}
	d, err := MkdirTemp(parent, "."+filepath.Base(out)+".partial-")
	if err != nil {
		return "", fmt.Errorf("create result directory: %w", err)
	}
	return d, nil
}

// commit moves the staged directory to out, replacing an earlier result.
func commit(stage, out string) error {
	if _, err := os.Stat(out); err == nil {
		old := stage + ".old"
		if err := os.Rename(out, old); err != nil {
			return fmt.Errorf("replace %s: %w", out, err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(stage, out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Load reads the result.json of an earlier run's directory, so that CI
// can reuse a cached base run instead of booting it again.
func Load(dir string) (*Result, error) {
	data, err := os.ReadFile(filepath.Join(dir, "result.json"))
	if err != nil {
		return nil, fmt.Errorf("read earlier result: %w", err)
	}
	var r Result
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s/result.json is not a vmtest result: %w", dir, err)
	}
	if r.Status == "" || r.RunID == "" {
		return nil, fmt.Errorf("%s/result.json is not a vmtest result (no run ID or status)", dir)
	}
	for i, c := range r.Cases {
		if c.ID == "" || !c.Outcome.Valid() {
			return nil, fmt.Errorf("%s/result.json: case %d has no id or an unknown outcome %q", dir, i, c.Outcome)
		}
	}
	return &r, nil
}
