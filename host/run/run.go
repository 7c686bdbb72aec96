// Package run is the host orchestrator of `vmtest run`: it validates the
// kernel, builds (or reuses) the initramfs, boots QEMU, follows the KTAP
// stream and the console as they are written, classifies how the run ended,
// and writes the result directory.
package run

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vmtest/vmtest/host/bzimage"
	"github.com/vmtest/vmtest/host/fastboot"
	"github.com/vmtest/vmtest/host/fileid"
	"github.com/vmtest/vmtest/host/initramfs"
	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/inputerr"
	"github.com/vmtest/vmtest/internal/ktap"
	"github.com/vmtest/vmtest/internal/result"
)

// Options configure one run.
type Options struct {
	Kernel string
	// Accel is the accelerator asked for; "" is auto.
	Accel qemu.AccelMode
	Cases []string
	// Out is the result directory; empty means results/<run-id>.
	Out      string
	QEMU     string
	CacheDir string
	// Agent is the static guest agent binary (default: initramfs.FindAgent,
	// vmtest-agent beside this executable).
	Agent string
	// Debug is passed to the agent to exercise the host's failure
	// handling.
	Debug contract.DebugMode
	// Runner is how the agent gives cases their namespaces; "" is the
	// agent's default.
	Runner contract.Runner
	// Shard, unless whole, runs only that slice of the selected cases
	// (catalog.Shard.Pick); vmtest merge joins the slices' results.
	Shard    catalog.Shard
	Timeouts Timeouts
	// VerboseConsole keeps the kernel's whole boot log in console.log.
	VerboseConsole bool
	// Append holds extra kernel command-line parameters.
	Append []string
	// Exec, when set, carries these static programs into the guest and
	// runs them instead of the matrix, timing each (the upstream clone3
	// kselftests, say); the times land in Result.Guest.
	Exec []string
	// Progress receives one line per event; nil discards.
	Progress io.Writer
	// StopOnFailure ends the VM at the first case that fails or errors
	// (vmtest mutate: one failure kills a mutant). The run is Completed
	// with Result.StoppedAt naming that case, and the cases it never
	// reached are recorded as skipped, "not run: stopped at ...", unlike
	// the errors a crashed or stalled run leaves.
	StopOnFailure bool
	// Nice, when above 0, starts QEMU at that nice value (qemu.Config.Nice):
	// vmtest compare gives it to the VM it expects to finish first.
	Nice int
	// Reporter, when set, writes further files (the CI formats of
	// host/formats) into each result directory while it is still staged,
	// so that the directory appears whole.
	Reporter Reporter
}

// Reporter writes files derived from a result into its staged directory.
type Reporter interface {
	// Run is called with a finished run's directory and result.
	Run(dir string, res *Result) error
	// Repeat is called with a repeated run's top directory, its summary
	// and the boots' results in order.
	Repeat(dir string, rr *RepeatResult, runs []*Result) error
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
	// Boot says how the kernel booted: its path (pvh-elf or bzimage),
	// the machine, and why not faster.
	Boot         *fastboot.Boot `json:"boot,omitempty"`
	Accel        string         `json:"accel"`
	AccelWarning string         `json:"accel_warning,omitempty"`
	// AccelFallback is set when the run started under KVM and ran again
	// under TCG (Accel), and says why.
	AccelFallback *AccelFallback `json:"accel_fallback,omitempty"`
	Status        Status         `json:"status"`
	StatusDetail  string         `json:"status_detail,omitempty"`
	Crash         string         `json:"crash_excerpt,omitempty"`
	// CrashTitle names the kernel report in one line ("BUG: ...",
	// "Oops: ...", "Kernel panic - not syncing: ...", "WARNING: at
	// FILE:LINE func").
	CrashTitle string `json:"crash_title,omitempty"`
	// StoppedAt is the failing case a StopOnFailure run stopped at.
	StoppedAt string            `json:"stopped_at,omitempty"`
	Guest     map[string]string `json:"guest,omitempty"`
	Timings   struct {
		StartedAt  time.Time `json:"started_at"`
		BootMS     float64   `json:"boot_ms"`
		CasesMS    float64   `json:"cases_ms"`
		TotalMS    float64   `json:"total_ms"`
		GuestSumMS float64   `json:"guest_case_sum_ms"`
		// HostMS is the host's work before the run's first QEMU
		// started: Prepare's and then Run's (checking, hashing, the
		// initramfs, the accelerator and the boot plan). A warm run
		// reads only small cache files: about 1 ms here, to which the
		// process's start and the command line add about 10.
		HostMS float64 `json:"host_ms"`
	} `json:"timings"`
	// Shard is the slice of the selection this run ran (run --shard);
	// absent for a whole run. Merged holds the shards a merged result
	// (vmtest merge) was made of.
	Shard   *catalog.Shard         `json:"shard,omitempty"`
	Merged  []catalog.Shard        `json:"merged,omitempty"`
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
	cases     []catalog.Info
	initramfs string
	// final is where the result directory will be read, when it is
	// written inside a stage (see Into); "" is Options.Out.
	final string
	// prepareTook is how long Prepare took, runStart when Run started:
	// Result.Timings.HostMS counts both.
	prepareTook time.Duration
	runStart    time.Time
}

// Prepare validates everything that can be validated without booting:
// the kernel image, the case patterns, QEMU, the agent binary. Its errors
// match inputerr.ErrBadInput.
func Prepare(opts Options) (*Prepared, error) {
	start := time.Now()
	p := &Prepared{opts: opts}
	defer func() { p.prepareTook = time.Since(start) }()
	var err error
	if opts.Kernel == "" {
		return nil, inputerr.Errorf("kernel", "", "no kernel given: name a bzImage")
	}
	p.opts.CacheDir = cmp.Or(opts.CacheDir, DefaultCacheDir())
	if p.kinfo, err = bzimage.CheckCached(fileid.At(p.opts.CacheDir), opts.Kernel); err != nil {
		return nil, inputerr.New("kernel", "", err)
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
	p.runStart = time.Now()
	opts := p.opts
	progress := opts.Progress
	if progress == nil {
		progress = io.Discard
	}
	res := &Result{RunID: stamp() + "-" + sanitize(p.kinfo.Release)}
	if !opts.Shard.Whole() {
		sh := opts.Shard
		res.Shard = &sh
	}
	res.Timings.StartedAt = time.Now().UTC()
	absKernel, _ := filepath.Abs(opts.Kernel)
	res.Kernel.Path, res.Kernel.Version, res.Kernel.Release = absKernel, p.kinfo.Version, p.kinfo.Release
	cacheDir := opts.CacheDir // Prepare filled in the default
	sum, err := fileid.At(cacheDir).SHA256(absKernel)
	if err != nil {
		return nil, err
	}
	res.Kernel.SHA256 = sum

	var extra []initramfs.File
	for _, e := range opts.Exec {
		extra = append(extra, initramfs.File{Path: e})
	}
	if p.initramfs, err = initramfs.Cached(p.opts.Agent, cacheDir, extra...); err != nil {
		return nil, fmt.Errorf("build initramfs: %w", err)
	}

	mode, err := qemu.ParseAccelMode(string(opts.Accel))
	if err != nil {
		return nil, inputerr.New("accel", string(opts.Accel), inputerr.OneOf(qemu.AccelModes))
	}
	chooser := qemu.Chooser{Binary: p.qemuBin, CacheDir: cacheDir}
	choice, err := chooser.Choose(ctx, mode)
	if err != nil {
		if errors.Is(err, qemu.ErrKVMUnusable) {
			return nil, inputerr.New("accel", string(qemu.AccelKVM), err)
		}
		return nil, fmt.Errorf("choose accelerator: %w", err)
	}
	res.AccelWarning = choice.Warning
	if choice.Warning != "" {
		fmt.Fprintf(progress, "warning: %s\n", choice.Warning)
	}

	out := opts.Out
	if out == "" {
		out = filepath.Join("results", res.RunID)
	}
	out, _ = filepath.Abs(out)

	accel := choice.Accel
	// Under auto, a guest that KVM cannot run (the probe passed, yet the
	// kernel shows no sign of life, or QEMU stops it with an internal
	// error) is run again under TCG: the run, not the probe, has the last
	// word on whether KVM works here.
	life := time.Duration(0)
	if accel == qemu.KVM && mode == qemu.AccelAuto {
		life = KVMLifeWindow
	}
	// The machine the same way: a kernel with no machine verdict boots
	// on microvm on trial, and one that does not reach the agent there
	// boots again on pc (fallback, the boot plan it gets then), once per
	// accelerator, since a verdict is an accelerator's. When both are on
	// trial the machine goes first: KVM is only blamed for a kernel that
	// does not come up on pc either.
	var fallback *fastboot.Boot
	for {
		stage, again, err := p.attempt(ctx, accel, life, fallback, out, res, progress)
		if err != nil {
			return nil, err
		}
		if again.microvm != "" {
			os.RemoveAll(stage)
			fmt.Fprintf(progress, "warning: microvm dropped: %s; booting again on pc\n", again.microvm)
			b := res.Boot.Fallback(again.microvm, res.Timings.TotalMS)
			fallback = &b
			continue
		}
		if again.kvm != "" {
			os.RemoveAll(stage)
			fmt.Fprintf(progress, "warning: KVM dropped: %s; running again under TCG\n", again.kvm)
			res.AccelFallback = &AccelFallback{From: string(qemu.KVM), Reason: again.kvm, AfterMS: res.Timings.TotalMS}
			accel, life, fallback = qemu.TCG, 0, nil
			continue
		}
		p.recordMachine(res, progress)
		if res.AccelFallback != nil && res.Timings.BootMS > 0 {
			// The kernel came up under TCG, so KVM was at fault, not the
			// kernel: remember it for this host. (A kernel that hangs
			// everywhere says nothing about KVM.)
			if err := chooser.RecordKVMFailure(ctx, res.AccelFallback.Reason); err != nil {
				fmt.Fprintf(progress, "warning: %v\n", err)
			}
		}
		if opts.Reporter != nil {
			if err := opts.Reporter.Run(stage, res); err != nil {
				os.RemoveAll(stage)
				return nil, fmt.Errorf("write the reports: %w", err)
			}
		}
		if err := Commit(stage, out); err != nil {
			os.RemoveAll(stage)
			return nil, err
		}
		return res, nil
	}
}

// runnerParam is the kernel parameter that asks for runner, none for the
// agent's default. It comes after the user's own parameters, so that the
// option wins over an --append of the same parameter.
func runnerParam(r contract.Runner) []string {
	if r == "" || r == contract.RunnerProxy {
		return nil
	}
	return []string{contract.ParamRunner + "=" + string(r)}
}

// KVMLifeWindow is how long a guest under KVM (chosen by auto) may show no
// sign of life, the agent's KTAP header, before the run drops KVM and
// starts again under TCG. On real KVM the agent is up in about a second
// (Debian's 6.1 kernel: 0.5 s of kernel boot, a fraction of a second to
// decompress it natively); nested KVM on CI runners takes two or three.
// Ten seconds leaves a margin of three over the slowest of those, and
// costs a host whose KVM hangs after a passing probe ten seconds once: the
// verdict is then cached.
const KVMLifeWindow = 10 * time.Second

// AccelFallback records that the first accelerator was dropped.
type AccelFallback struct {
	From string `json:"from"`
	// Reason says what the guest did under From.
	Reason string `json:"reason"`
	// AfterMS is how long the dropped attempt ran.
	AfterMS float64 `json:"after_ms"`
}

// recordMachine caches what the run found out about its kernel's machine
// (fastboot.Planner.Record): microvm works, when the kernel on trial
// there completed its run (failing cases or not); pc is needed, when it
// fell back to pc and reached the agent there. A kernel that did not
// reach the agent on pc either, or that crashed or was stopped on
// microvm, says nothing about the machine: its next run tries again.
func (p *Prepared) recordMachine(res *Result, progress io.Writer) {
	b := res.Boot
	switch {
	case b == nil:
		return
	case b.MachineFrom == fastboot.FromTrial && res.Status == Completed:
	case b.MachineFrom == fastboot.FromFallback && res.Timings.BootMS > 0:
	default:
		return
	}
	pl := fastboot.Planner{QEMU: p.qemuBin, CacheDir: p.opts.CacheDir, Accel: qemu.Accel(res.Accel)}
	if err := pl.Record(*b, res.Kernel.SHA256); err != nil {
		fmt.Fprintf(progress, "warning: %v\n", err)
	}
}

// failureModes are the debug modes that fake a failure of the guest; a
// run of one does not put a kernel on trial on microvm, whose fallback
// would take the fake failure for microvm's and boot again.
var failureModes = []contract.DebugMode{contract.DebugPanic, contract.DebugHang, contract.DebugSilent, contract.DebugStall}

// attempt boots the VM once under accel in a new stage directory next to
// out and fills res. fallback, when not nil, is the boot on pc after the
// kernel failed its trial on microvm under accel. It returns the stage
// directory, complete but not yet renamed into place, and why the boot is
// to be run again another way: when life > 0 and the guest failed in a
// way that blames KVM, or when the kernel on trial on microvm did not
// reach the agent. The stage of a boot to be run again is incomplete.
func (p *Prepared) attempt(ctx context.Context, accel qemu.Accel, life time.Duration, fallback *fastboot.Boot, out string, res *Result, progress io.Writer) (stage string, again retry, err error) {
	opts := p.opts
	res.Accel = string(accel)
	res.Status, res.StatusDetail, res.Crash, res.CrashTitle, res.Guest, res.Cases = "", "", "", "", nil, nil
	res.Timings.BootMS, res.Timings.CasesMS, res.Timings.TotalMS, res.Timings.GuestSumMS = 0, 0, 0, 0
	to := opts.Timeouts.withDefaults(accel)

	if stage, err = Stage(out); err != nil {
		return "", retry{}, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(stage)
			stage = ""
		}
	}()

	params := []string{contract.ParamResults + "=" + contract.ResultsTTY, fmt.Sprintf("%s=%s", contract.ParamCaseTimeout, to.Case)}
	if len(opts.Cases) > 0 {
		params = append(params, contract.ParamCases+"="+strings.Join(opts.Cases, ","))
	}
	if !opts.Shard.Whole() {
		params = append(params, contract.ParamShard+"="+opts.Shard.String())
	}
	if opts.Debug != contract.DebugNone {
		params = append(params, contract.ParamDebug+"="+string(opts.Debug))
	}
	if len(opts.Exec) > 0 {
		params = append(params, contract.ParamExec+"=1")
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
	// The uncompressed kernel through PVH and the lightest machine that
	// works for it, when they can be had (host/fastboot).
	var boot fastboot.Boot
	if fallback != nil {
		boot = *fallback
	} else {
		boot = fastboot.Planner{QEMU: p.qemuBin, CacheDir: opts.CacheDir, Accel: accel}.Plan(ctx, res.Kernel.Path, res.Kernel.SHA256)
		if boot.MachineFrom == fastboot.FromTrial && slices.Contains(failureModes, opts.Debug) {
			boot = boot.OnPC(fastboot.FromRule, fmt.Sprintf("--debug %s fakes a failure, and a kernel on trial on microvm would be booted again on pc for it (no machine verdict for this kernel yet)", opts.Debug))
		}
	}
	trial := time.Duration(0)
	if boot.MachineFrom == fastboot.FromTrial {
		trial = fastboot.TrialWindow(accel)
	}
	res.Boot = &boot
	cfg := qemu.New(boot.Kernel, p.initramfs, append(boot.Options(), qemu.WithBinary(p.qemuBin), qemu.WithAccel(accel),
		qemu.WithVerboseConsole(opts.VerboseConsole), qemu.WithResultsShm(shm), qemu.WithNice(opts.Nice),
		qemu.WithAppend(append(append(params, opts.Append...), runnerParam(opts.Runner)...)...))...)
	res.QEMU.Argv = cfg.Args()
	res.QEMU.Dir = out
	if p.final != "" {
		res.QEMU.Dir = p.final
	}
	// The re-run line leaves the shared-memory result channel out: only
	// vmtest copies that into results.ktap. Without it the agent writes
	// through the debug port, which QEMU puts there itself.
	rerun := cfg
	rerun.ResultsShm = ""
	rerunLine := qemu.ShellLine(rerun.Args())
	res.QEMU.Cmdline = "cd " + qemu.ShellLine([]string{res.QEMU.Dir}) + " && " + rerunLine
	if err := os.WriteFile(filepath.Join(stage, "qemu-cmdline.sh"), []byte("#!/bin/sh\n# Re-run this VM: the paths are relative to this directory.\n# Results arrive in results.ktap through the debug port or the UART\n# (vmtest's own run may have used shared memory, which it copies there).\ncd \"$(dirname \"$0\")\" && exec "+rerunLine+"\n"), 0o755); err != nil {
		return "", retry{}, fmt.Errorf("save QEMU command line: %w", err)
	}

	fmt.Fprintf(progress, "booting %s under %s on %s (%d cases)\n", p.kinfo.Release, accel, boot.Machine, len(p.cases))
	if res.Timings.HostMS == 0 {
		res.Timings.HostMS = ms(p.prepareTook + time.Since(p.runStart))
	}
	again = p.boot(ctx, cfg, stage, to, life, trial, res, progress, pump)
	if life == 0 {
		again.kvm = ""
	}
	if again != (retry{}) {
		ok = true // the caller removes it and starts again
		return stage, again, nil
	}
	finish(res, p.cases)
	if res.Status != Completed {
		if err := completeKTAP(filepath.Join(stage, qemu.ResultsFile), res.Cases); err != nil {
			fmt.Fprintf(progress, "warning: %v\n", err)
		}
	}

	os.Remove(filepath.Join(stage, qemu.QMPSocket))
	if err := Save(stage, res); err != nil {
		return "", retry{}, err
	}
	ok = true
	return stage, retry{}, nil
}

// completeKTAP appends a test line for every selected case the guest did
// not report to the results file, so that a KTAP reader (kunit.py) of a
// crashed or stopped run sees every case, as not run, with the run's
// status. A stream the guest never started gets its header and plan.
func completeKTAP(path string, cases []result.Case) error {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("complete %s: %w", filepath.Base(path), err)
	}
	reported := map[string]bool{}
	n := 0
	for _, l := range strings.Split(string(data), "\n") {
		if id, ok := ktap.TestLineID(l); ok {
			reported[id] = true
			n++
		}
	}
	var b strings.Builder
	if len(data) > 0 && data[len(data)-1] != '\n' {
		b.WriteString("\n") // a line cut short by the crash
	}
	if !strings.Contains(string(data), "KTAP version 1") {
		fmt.Fprintf(&b, "KTAP version 1\n1..%d\n", len(cases))
	}
	for _, c := range cases {
		if reported[c.ID] {
			continue
		}
		n++
		b.WriteString(ktap.TestLine(n, c) + "\n")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("complete %s: %w", filepath.Base(path), err)
	}
	if _, err := f.WriteString(b.String()); err != nil {
		f.Close()
		return fmt.Errorf("complete %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

// finish adds cases the guest never reported (so every selected case has
// an entry) and the summary.
func finish(res *Result, cases []catalog.Info) {
	seen := map[string]bool{}
	for i, c := range res.Cases {
		seen[c.ID] = true
		// The guest leaves out what the host knows from the matrix, to
		// keep the serial stream short.
		if m, ok := catalog.Lookup(c.ID); ok {
			if c.Group == "" {
				res.Cases[i].Group = m.Group
			}
			if c.Rule == "" {
				res.Cases[i].Rule = m.Rule
			}
		}
	}
	for _, c := range cases {
		if seen[c.ID] {
			continue
		}
		if res.StoppedAt != "" {
			// Left out on purpose (StopOnFailure), which is no error.
			res.Cases = append(res.Cases, result.Case{ID: c.ID, Group: c.Group, Rule: c.Rule, Outcome: result.Skip,
				Reason: "not run: stopped at the first failing case, " + res.StoppedAt})
			continue
		}
		res.Cases = append(res.Cases, result.Case{ID: c.ID, Group: c.Group, Rule: c.Rule, Outcome: result.Error,
			Reason: "not run: " + string(res.Status)})
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

// DefaultCacheDir is $XDG_CACHE_HOME/vmtest or ~/.cache/vmtest.
func DefaultCacheDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "vmtest")
	}
	return filepath.Join(os.TempDir(), "vmtest-cache")
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ResultFile is a result directory's result.json.
const ResultFile = "result.json"

// Save writes res as dir's result.json.
func Save(dir string, res *Result) error {
	return writeJSON(filepath.Join(dir, ResultFile), res)
}

// Load reads the result.json of an earlier run's directory, so that CI
// can reuse a cached base run instead of booting it again.
func Load(dir string) (*Result, error) {
	data, err := os.ReadFile(filepath.Join(dir, ResultFile))
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
