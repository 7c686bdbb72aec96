//go:build linux

// Package agent is the guest side of vmtest: the program that runs as PID 1
// in the VM's initramfs. It mounts the pseudo file systems, probes what the
// kernel supports, runs each selected matrix case in a fresh process tree,
// streams KTAP to the host over a channel of its own (shared memory, QEMU's
// debug port or the second UART, whichever is cheapest), and ends the VM.
//
// Its binary is cmd/vmtest-agent, separate from the host CLI, so that the
// guest unpacks and starts only guest code: under TCG every page and every
// package initialiser of the host's packages cost boot time (docs/fastboot.md).
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
	"github.com/vmtest/vmtest/guest/debugcon"
	"github.com/vmtest/vmtest/guest/ivshmem"
	"github.com/vmtest/vmtest/guest/kmsg"
	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/ktap"
	"github.com/vmtest/vmtest/internal/result"
)

// config is what the agent reads from the kernel command line.
type config struct {
	ResultsTTY  string
	Cases       []string
	CaseTimeout time.Duration
	Debug       contract.DebugMode
	Jobs        int
	Exec        bool
	Runner      contract.Runner
	Shard       catalog.Shard
}

// parseCmdline extracts the agent's parameters from /proc/cmdline text.
func parseCmdline(cmdline string) (config, error) {
	c := config{ResultsTTY: contract.ResultsTTY, CaseTimeout: contract.DefaultCaseTimeout, Runner: contract.RunnerProxy}
	for _, f := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case contract.ParamResults:
			c.ResultsTTY = v
		case contract.ParamCases:
			for _, p := range strings.Split(v, ",") {
				if p != "" {
					c.Cases = append(c.Cases, p)
				}
			}
		case contract.ParamCaseTimeout:
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return c, fmt.Errorf("bad %s=%q", contract.ParamCaseTimeout, v)
			}
			c.CaseTimeout = d
		case contract.ParamDebug:
			m, err := contract.ParseDebugMode(v)
			if err != nil {
				return c, fmt.Errorf("bad %s: %w", contract.ParamDebug, err)
			}
			c.Debug = m
		case contract.ParamExec:
			c.Exec = v == "1"
		case contract.ParamRunner:
			r, err := contract.ParseRunner(v)
			if err != nil {
				return c, fmt.Errorf("bad %s: %w", contract.ParamRunner, err)
			}
			c.Runner = r
		case contract.ParamShard:
			s, err := catalog.ParseShard(v)
			if err != nil {
				return c, fmt.Errorf("bad %s: %w", contract.ParamShard, err)
			}
			c.Shard = s
		case contract.ParamJobs:
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return c, fmt.Errorf("bad %s=%q", contract.ParamJobs, v)
			}
			c.Jobs = min(n, matrix.MaxSlots)
		}
	}
	return c, nil
}

// mount is one file system of the guest's root.
type mount struct {
	target, fstype string
	mode           os.FileMode
}

// guestMounts is the minimal root file system the cases need, in order.
// It is not u-root's libinit: its table mounts file systems a minimal
// kernel lacks (efivarfs, debugfs, cgroups), which only add noise to the
// console, and the package pulls kernel-module, network and compression
// code into the guest binary whose initialisers alone cost about 50 ms of
// every boot under TCG.
var guestMounts = []mount{
	{"/dev", "devtmpfs", 0o755},
	{"/proc", "proc", 0o555},
	{"/sys", "sysfs", 0o555},
	// A second procfs of the initial PID namespace, which stays visible
	// when case processes mount their own namespace's procfs on /proc.
	{contract.RootProc, "proc", 0o555},
	{"/tmp", "tmpfs", 0o1777},
}

// mountRoot creates guestMounts. A failure is logged and the agent goes
// on: the cases that need the missing file system fail and say why, which
// tells the user more than an agent that stops here.
func mountRoot(logf func(string, ...any)) {
	for _, m := range guestMounts {
		if err := os.MkdirAll(m.target, m.mode); err != nil {
			logf("make %s: %v", m.target, err)
			continue
		}
		if err := unix.Mount(m.fstype, m.target, m.fstype, 0, ""); err != nil {
			logf("mount %s on %s: %v", m.fstype, m.target, err)
		}
	}
}

// Main is PID 1. It never returns: it ends the VM.
func Main() {
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, "vmtest-agent: "+format+"\n", args...) }
	mountRoot(logf)
	// The kernel starts init with HOME and TERM only; programs run by
	// --exec (the kselftests) may look commands up or call system().
	os.Setenv("PATH", contract.ExecDir+":/usr/sbin:/usr/bin:/sbin:/bin")

	cmdline, _ := os.ReadFile("/proc/cmdline")
	cfg, err := parseCmdline(string(cmdline))
	if err != nil {
		logf("%v", err)
	}
	if cfg.Debug == contract.DebugPanic {
		// PID 1 exiting is a kernel panic on every kernel ("Attempted to
		// kill init!"), which is exactly what the host must classify.
		logf("debug: exiting PID 1 to provoke a kernel panic")
		os.Exit(7)
	}
	// The feature probes make the kernel's first clone3, exit and wait of
	// the boot: under TCG that code is translated on first use, tens of
	// milliseconds. They start now, on the other vCPU, while the result
	// channel is opened and the header written. openChannel waits for
	// them before it could signal every thread (see quiesce there).
	probed := make(chan matrix.ProbeResult, 1)
	var probing sync.WaitGroup
	if !cfg.Exec {
		probing.Go(func() { probed <- probeKernel() })
	}
	out, err := openChannel(cfg, logf, probing.Wait)
	if err != nil {
		logf("open result channel: %v", err)
		powerOff()
	}
	if cfg.Debug == contract.DebugSilent {
		logf("debug: staying silent")
		hangForever()
	}
	if err := run(context.Background(), cfg, out, probed, logf); err != nil {
		// The result channel failed (a full shared region, say): the host
		// sees no done record, and the console says why.
		logf("%v", err)
	}
	out.Close()
	unix.Sync()
	powerOff()
}

// run runs the selected cases (or, with cfg.Exec, the programs) and
// reports them to out; probed delivers what the kernel's features are.
func run(ctx context.Context, cfg config, out io.Writer, probed <-chan matrix.ProbeResult, logf func(string, ...any)) error {
	if cfg.Exec {
		return runExec(ctx, cfg, out)
	}
	cases, err := selectCases(cfg)
	if err != nil {
		// The host validates patterns before booting; this is a safety net.
		w := ktap.NewWriter(out, 0)
		w.Info(contract.InfoError, err.Error())
		return w.Done()
	}
	w := ktap.NewWriter(out, len(cases))
	if cfg.Debug == contract.DebugHang {
		logf("debug: hanging after the KTAP header")
		hangForever()
	}
	p := <-probed
	feats, probeNotes := p.Features, p.Notes
	absentWhy = p.Why
	var uts unix.Utsname
	unix.Uname(&uts)
	pidMax, _ := clone3.PidMax()
	w.Info(contract.InfoKernel, unix.ByteSliceToString(uts.Release[:])+" "+unix.ByteSliceToString(uts.Version[:]))
	w.Info(contract.InfoFeatures, feats.String())
	w.Info(contract.InfoPidMax, strconv.Itoa(pidMax))
	for _, n := range probeNotes {
		w.Info(contract.InfoProbe, n)
	}
	jobs := cfg.Jobs
	if jobs == 0 {
		jobs = min(runtime.NumCPU(), matrix.MaxSlots)
	}
	// Workers wait for their proxies in raw futex calls, which keep
	// their P (see clone3.Proxy): spare Ps let the reporter and the
	// background teardown of earlier cases run meanwhile.
	runtime.GOMAXPROCS(2 * runtime.NumCPU())
	start := time.Now()
	if cfg.Debug == contract.DebugStall {
		stallOnce.Store(true)
	}
	// A WARNING or BUG the kernel survives is charged to the case that
	// was running (see chargeReports).
	kernelLog, err := kmsg.Open()
	if err != nil {
		logf("kernel log not watched (%v): a survivable WARNING or BUG is not charged to a case", err)
	}
	defer kernelLog.Close()
	var running runningCases
	w.Info(contract.InfoRunner, string(cfg.Runner))
	w.Info(contract.InfoChannel, channelName(out, cfg.ResultsTTY))
	w.Info(contract.InfoCPUs, strconv.Itoa(runtime.NumCPU()))
	w.Info(contract.InfoJobs, strconv.Itoa(jobs))
	runCase := runCaseInProcess
	if cfg.Runner == contract.RunnerExec {
		runCase = func(ctx context.Context, c matrix.Case, feats matrix.Feature, timeout time.Duration, slot int) (result.Case, bool) {
			return runCaseExec(ctx, c, feats, timeout, slot), false
		}
	}
	// Where the guest's time goes, reported as information: case bodies
	// with their setup, and writing results to the result channel.
	var runNS, emitNS atomic.Int64
	err = scheduler{
		jobs: jobs,
		// A case's own timeout ends it in all but pathological cases (a
		// body stuck outside its proxies); give it time to, first.
		abandonAfter: cfg.CaseTimeout + 5*time.Second,
		prepare:      prepareWorker,
		runOne: func(c matrix.Case, slot int) (result.Case, bool) {
			t0 := time.Now()
			defer func() { runNS.Add(int64(time.Since(t0))) }()
			running.set(slot, c.ID)
			r, retire := runCase(ctx, c, feats, cfg.CaseTimeout, slot)
			running.set(slot, "")
			return chargeReports(r, kernelLog.Reports(), running.others(slot)), retire
		},
		report: func(r result.Case) error {
			t0 := time.Now()
			defer func() { emitNS.Add(int64(time.Since(t0))) }()
			return w.Case(r)
		},
	}.runAll(cases)
	w.Info(contract.InfoCasesRunMS, strconv.FormatInt(runNS.Load()/1e6, 10))
	w.Info(contract.InfoEmitMS, strconv.FormatInt(emitNS.Load()/1e6, 10))
	w.Info(contract.InfoSetupMS, strconv.FormatInt(setupNS.Load()/1e6, 10))
	if err != nil {
		return err
	}
	// Guest wall time of the whole matrix: what the cases cost the kernel
	// under test, without boot and host overhead.
	w.Info(contract.InfoCasesWallMS, strconv.FormatInt(time.Since(start).Milliseconds(), 10))
	w.Info(contract.InfoCasesDoneMS, strconv.FormatInt((casesDone.Load()-start.UnixNano())/1e6, 10))
	return w.Done()
}

// runExec runs every program in contract.ExecDir in name order, each in its own
// process group with the case timeout, its output on the console, and
// reports each one's exit status and guest wall time. It exists to time
// the upstream kselftests on the same kernel and VM as the matrix.
func runExec(ctx context.Context, cfg config, out io.Writer) error {
	w := ktap.NewWriter(out, 0)
	ents, err := os.ReadDir(contract.ExecDir)
	if err != nil {
		w.Info(contract.InfoError, err.Error())
		return w.Done()
	}
	var total time.Duration
	for _, e := range ents {
		cctx, cancel := context.WithTimeout(ctx, cfg.CaseTimeout)
		cmd := exec.CommandContext(cctx, filepath.Join(contract.ExecDir, e.Name()))
		cmd.Dir = "/tmp"
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		cancel()
		total += d
		code := 0
		if err != nil {
			code = -1
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			}
		}
		w.Info(contract.InfoExecPrefix+e.Name(), fmt.Sprintf("exit %d, %d ms", code, d.Milliseconds()))
	}
	w.Info(contract.InfoExecTotalMS, strconv.FormatInt(total.Milliseconds(), 10))
	return w.Done()
}

// probeKernel finds out which features the running kernel has (see
// matrix.Probe for how an answer is classified). The result's notes record
// the raw answers, so a surprising verdict can be traced to its probe, and
// its reasons quote the kernel's answer for every feature found absent.
func probeKernel() matrix.ProbeResult {
	return matrix.ClassifyAll(probeNamespaces(), func(p matrix.Probe) matrix.ProbeAnswer { return p.Ask() })
}

// probeNamespaces finds the features that need no clone3 call to see.
func probeNamespaces() matrix.Feature {
	var f matrix.Feature
	if _, err := os.Stat("/proc/self/ns/pid"); err == nil {
		f |= matrix.PIDNS
	}
	if _, err := os.Stat("/proc/self/ns/user"); err == nil {
		f |= matrix.UserNS
	}
	if b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap"); err == nil {
		if n, _ := strconv.Atoi(strings.TrimSpace(string(b))); n >= int(matrix.CapCheckpointRestore) {
			f |= matrix.CheckpointRestoreCap
		}
	}
	if b, err := os.ReadFile("/proc/filesystems"); err == nil && strings.Contains(string(b), "\tcgroup2\n") {
		f |= matrix.Cgroup2
	}
	return f
}

// absentWhy holds the probes' reasons for the features found absent, for
// gate. run sets it once, before any case starts.
var absentWhy map[matrix.Feature]string

// gate starts a case's result and decides whether the case can run on a
// kernel with feats: if not, the result is already final (unsupported or
// skip, with the reason).
func gate(c matrix.Case, feats matrix.Feature) (result.Case, bool) {
	res := result.Case{ID: c.ID, Group: c.Group, Rule: c.Rule}
	if reason, unsupported := matrix.Missing(c.Needs, feats, absentWhy); reason != "" {
		res.Outcome, res.Reason = result.Skip, reason
		if unsupported {
			res.Outcome = result.Unsupported
		}
		return res, false
	}
	return res, true
}

// runCaseExec decides one case: unsupported or skipped when the kernel lacks
// what it needs, otherwise run in a fresh process tree with a time limit.
// Whatever happens inside (crash, hang, garbage output) becomes this case's
// error; the agent goes on with the next case.
func runCaseExec(ctx context.Context, c matrix.Case, feats matrix.Feature, timeout time.Duration, slot int) result.Case {
	res, runnable := gate(c, feats)
	if !runnable {
		return res
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	cmd := exec.CommandContext(ctx, self, contract.CaseArg, c.ID, "0", feats.String(), strconv.Itoa(slot), proxyTimeout(timeout).String())
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &limitedWriter{w: &stderr, n: 4096}
	// Its own process group, so a timeout kills the whole tree, including
	// namespace inits and raw children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return unix.Kill(-cmd.Process.Pid, unix.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	runErr := cmd.Run()
	elapsed := time.Since(start)
	if ctx.Err() == context.DeadlineExceeded {
		res.Outcome = result.Error
		res.Reason = fmt.Sprintf("timeout: case did not finish within %s", timeout)
		res.DurationMS = float64(elapsed.Microseconds()) / 1000
		return res
	}
	var got result.Case
	line := lastLine(stdout.Bytes())
	if err := json.Unmarshal(line, &got); err != nil || got.ID != c.ID || !got.Outcome.Valid() {
		res.Outcome = result.Error
		res.Reason = fmt.Sprintf("case process gave no result (%v); stderr: %s", exitText(runErr), strings.TrimSpace(stderr.String()))
		res.DurationMS = float64(elapsed.Microseconds()) / 1000
		return res
	}
	got.DurationMS = float64(elapsed.Microseconds()) / 1000
	return got
}

func lastLine(b []byte) []byte {
	b = bytes.TrimSpace(b)
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		return b[i+1:]
	}
	return b
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	return err.Error()
}

// limitedWriter keeps the first n bytes: a runaway case must not exhaust
// the guest's memory through its stderr.
type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// openChannel opens the result channel, the cheapest one the VM and the
// kernel allow: the host's shared memory (an ivshmem device, which needs
// PCI), then QEMU's debug port (which needs ioperm), then the second UART.
// The host reads all three. The debug switches "debugcon" and "uart"
// force the slower ones, to test them.
//
// quiesce blocks until the feature probes, raw clone3 calls, are done: the
// debug port is opened with syscall.AllThreadsSyscall (ioperm is per
// thread), which signals every thread and waits for each, and a thread in
// clone3.Raw has every signal blocked, so the two together would hang
// PID 1 for good.
func openChannel(cfg config, logf func(string, ...any), quiesce func()) (io.WriteCloser, error) {
	if cfg.Debug != contract.DebugDebugcon && cfg.Debug != contract.DebugUART {
		ch, err := ivshmem.Open(ivshmem.DevicesDir)
		if err == nil {
			return ch, nil
		}
		if !errors.Is(err, ivshmem.ErrNoDevice) {
			// A device that should have worked: say why on the console.
			logf("shared-memory results: %v; using the debug port or UART", err)
		}
	}
	if cfg.Debug != contract.DebugUART {
		quiesce()
		if dc, err := debugcon.Open(); err == nil {
			return dc, nil
		}
	}
	return openResults(cfg.ResultsTTY)
}

// channelName says which result channel out is, for the run's record.
func channelName(out io.Writer, tty string) string {
	switch c := out.(type) {
	case *ivshmem.Channel:
		return "ivshmem (" + c.Device + ")"
	case *debugcon.Writer:
		return fmt.Sprintf("debugcon (port %#x)", debugcon.Port)
	}
	return tty
}

// openResults opens the result channel's tty in raw mode: no CR/LF
// translation, so the bytes the host reads are the KTAP stream as written.
func openResults(tty string) (*os.File, error) {
	path := "/dev/" + tty
	f, err := os.OpenFile(path, os.O_WRONLY|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	if t, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ICANON | unix.ISIG | unix.IEXTEN
		unix.IoctlSetTermios(int(f.Fd()), unix.TCSETS, t)
	}
	return f, nil
}

// powerOff ends the VM in a way that works with and without ACPI: first
// QEMU's isa-debug-exit port (the host adds the device), which needs only
// /dev/port; then an ACPI power-off; and as the last resort a reboot, which
// QEMU's -no-reboot turns into an exit. The host normally quits QEMU over
// QMP as soon as it has read the done record, so this is rarely reached.
func powerOff() {
	if f, err := os.OpenFile("/dev/port", os.O_WRONLY, 0); err == nil {
		f.WriteAt([]byte{0}, contract.DebugExitPort)
		f.Close()
	}
	unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF)
	unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	hangForever()
}

// hangForever blocks PID 1 for good. Not `select {}`: when no other
// goroutine can run, Go's deadlock detector makes that a fatal error, and
// PID 1 exiting is a kernel panic, which is not the hang the host's
// timeouts are tested with. A sleeping timer keeps the detector quiet.
func hangForever() {
	for {
		time.Sleep(time.Hour)
	}
}

// selectCases is the host's selection: the cases matching the patterns,
// then the shard's slice of them, cut exactly as the host cut it.
func selectCases(cfg config) ([]matrix.Case, error) {
	cases, err := matrix.Select(cfg.Cases)
	if err != nil || cfg.Shard.Whole() {
		return cases, err
	}
	infos := make([]catalog.Info, len(cases))
	for i, c := range cases {
		infos[i] = c.Info()
	}
	in := map[string]bool{}
	for _, c := range cfg.Shard.Pick(infos) {
		in[c.ID] = true
	}
	var out []matrix.Case
	for _, c := range cases {
		if in[c.ID] {
			out = append(out, c)
		}
	}
	return out, nil
}
