package run

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/fastboot"
	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/testutils"
)

// The test binary doubles as a fake QEMU: with fakeQEMUEnv set it plays
// one scenario (a guest that completes, crashes, stalls, ...) against the
// real boot loop, over a real QMP socket, without a kernel.
const fakeQEMUEnv = "VMTEST_FAKE_QEMU"

// fakeQEMULog, when set, names a file the fake QEMU appends its machine
// type to, one boot a line.
const fakeQEMULog = "VMTEST_FAKE_QEMU_LOG"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeQEMUEnv); mode != "" {
		os.Exit(fakeQEMU(mode))
	}
	os.Exit(m.Run())
}

// fakeQEMU serves QMP on qmp.sock in the working directory (as the real
// command line asks) and writes the guest's side of mode.
func fakeQEMU(mode string) int {
	machine := ""
	for i, a := range os.Args {
		if a == "help" {
			return 0 // -device help: no ivshmem here
		}
		if a == "-machine" && i+1 < len(os.Args) {
			machine, _, _ = strings.Cut(os.Args[i+1], ",")
		}
	}
	if log := os.Getenv(fakeQEMULog); log != "" {
		f, _ := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		fmt.Fprintln(f, machine)
		f.Close()
	}
	if m, ok := strings.CutPrefix(mode, machine+":"); ok {
		mode = m // "microvm:silent": silent on microvm, completed elsewhere
	} else if strings.Contains(mode, ":") {
		mode = "completed"
	}
	if mode == "no-microvm" {
		// A QEMU built without microvm refuses the machine at once.
		fmt.Fprintln(os.Stderr, "qemu-system-x86_64: -machine microvm: unsupported machine type")
		return 1
	}
	os.Remove(qemu.QMPSocket)
	l, err := net.Listen("unix", qemu.QMPSocket)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	results, _ := os.OpenFile(qemu.ResultsFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	console, _ := os.OpenFile(qemu.ConsoleLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	guest := func(s string) { io.WriteString(results, s) }
	c, err := l.Accept()
	if err != nil {
		return 1
	}
	enc := json.NewEncoder(c)
	// go-qemu sends commands without a newline: read a JSON stream.
	dec := json.NewDecoder(c)
	enc.Encode(map[string]any{"QMP": map[string]any{"version": map[string]any{}, "capabilities": []string{}}})
	var status atomic.Value // the reader answers query-status from it
	status.Store("running")
	quit := make(chan struct{})
	replies := make(chan map[string]any, 16)
	go func() {
		for {
			var cmd struct{ Execute string }
			if dec.Decode(&cmd) != nil {
				return
			}
			switch cmd.Execute {
			case "query-status":
				st := status.Load().(string)
				replies <- map[string]any{"return": map[string]any{"status": st, "running": st == "running"}}
			case "quit":
				replies <- map[string]any{"return": map[string]any{}}
				close(quit)
				return
			default:
				replies <- map[string]any{"return": map[string]any{}}
			}
		}
	}()
	// The handshake's reply, then everything in order from one writer.
	enc.Encode(<-replies)
	events := make(chan map[string]any, 16)
	go func() {
		for {
			select {
			case r := <-replies:
				enc.Encode(r)
			case e := <-events:
				enc.Encode(e)
			}
		}
	}()
	event := func(name string, data map[string]any) {
		events <- map[string]any{"event": name, "data": data, "timestamp": map[string]any{"seconds": 0, "microseconds": 0}}
	}
	const header = "KTAP version 1\n1..2\n"
	switch mode {
	case "completed":
		guest(header + "ok 1 clone3/plain/ver0\nok 2 clone3/plain/size-zero\n# vmtest-done 2\n")
		<-quit
		return 0
	case "no-done":
		guest(header + "ok 1 clone3/plain/ver0\n")
		time.Sleep(100 * time.Millisecond)
		event("SHUTDOWN", map[string]any{"guest": true, "reason": "guest-shutdown"})
		time.Sleep(100 * time.Millisecond)
		return 0
	case "panic":
		guest(header + "ok 1 clone3/plain/ver0\n")
		io.WriteString(console, "\x1bcSeaBIOS (version 1.16)\r\n[    1.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009\r\n")
		event("GUEST_PANICKED", map[string]any{"action": "pause"})
		time.Sleep(100 * time.Millisecond)
		return 0
	case "warning":
		// A WARNING the kernel survives: the run completes, the title is
		// kept, and the run is not called a crash.
		io.WriteString(console, "[    1.0] WARNING: CPU: 0 PID: 9 at kernel/pid.c:229 alloc_pid+0x1/0x2\n")
		guest(header + "ok 1 clone3/plain/ver0\nok 2 clone3/plain/size-zero\n# vmtest-done 2\n")
		<-quit
		return 0
	case "internal-error":
		guest(header)
		time.Sleep(100 * time.Millisecond)
		fmt.Fprintln(os.Stderr, "KVM internal error. Suberror: 1")
		fmt.Fprintln(os.Stderr, "emulation failure")
		status.Store("internal-error")
		event("STOP", nil)
	case "stall":
		guest(header + "ok 1 clone3/plain/ver0\n")
	case "early-panic":
		// A kernel that panics before its init, as one missing a driver
		// the machine needs would: panic=-1 and -no-reboot end QEMU.
		io.WriteString(console, "[    0.5] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)\r\n")
		time.Sleep(100 * time.Millisecond)
		return 0
	case "silent", "hang":
	}
	select {} // until killed
}

// fakeBoot runs the boot loop against the fake QEMU in mode, on machine
// (pc when ""), on trial there for trial when that is > 0.
func fakeBoot(t *testing.T, ctx context.Context, mode string, accel qemu.Accel, machine qemu.Machine, to Timeouts, life, trial time.Duration) (*Result, retry) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeQEMUEnv, mode)
	dir := t.TempDir()
	cases, err := catalog.Select([]string{"clone3/plain/ver0", "clone3/plain/size-zero"})
	if err != nil {
		t.Fatal(err)
	}
	p := &Prepared{cases: cases}
	cfg := qemu.New("bzImage", "initramfs", qemu.WithBinary(self), qemu.WithAccel(accel), qemu.WithMachine(machine))
	res := &Result{}
	var progress strings.Builder
	again := p.boot(ctx, cfg, dir, to, life, trial, res, &progress, nil)
	finish(res, p.cases)
	return res, again
}

// TestBootOutcomes: every way a VM's life can end, classified, without a
// kernel.
func TestBootOutcomes(t *testing.T) {
	short := Timeouts{Boot: 2 * time.Second, Case: time.Second, Run: 30 * time.Second}
	// roomy leaves a slow start of the fake QEMU (under -race, on a busy
	// host) well inside the windows of the rows that do not wait them out.
	roomy := Timeouts{Boot: 10 * time.Second, Case: time.Second, Run: 30 * time.Second}
	tests := []struct {
		mode   string
		accel  qemu.Accel
		to     Timeouts
		life   time.Duration
		status Status
		detail string // substring
		title  string
		// kvmFailure: the outcome blames KVM (substring; "" = no)
		kvmFailure string
		// machine, trial: on microvm on trial for trial (0: pc, or not
		// on trial); microvm: the outcome boots it again on pc
		// (substring; "" = no)
		machine qemu.Machine
		trial   time.Duration
		microvm string
	}{
		{mode: "completed", to: short, status: Completed},
		{mode: "no-done", to: short, status: NoDone, detail: `the VM ended before the agent's done record`},
		{mode: "panic", to: short, status: Crashed, title: "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009"},
		{mode: "warning", to: short, status: Completed, title: "WARNING: at kernel/pid.c:229 alloc_pid"},
		{mode: "silent", to: short, status: BootTimeout, detail: "no sign of life from the guest agent within 2s"},
		{mode: "stall", to: short, status: CaseTimeout, detail: "no result for 11s after case 1 of 2"},
		{mode: "hang", to: Timeouts{Boot: 5 * time.Second, Case: time.Second, Run: time.Second}, status: RunTimeout, detail: "the run exceeded 1s"},
		{mode: "internal-error", accel: qemu.KVM, to: short, status: QEMUFailed,
			detail: "QEMU stopped the VM with an internal error: KVM internal error. Suberror: 1 | emulation failure", kvmFailure: "internal error"},
		{mode: "silent", accel: qemu.KVM, to: short, life: 500 * time.Millisecond, status: BootTimeout, kvmFailure: "no sign of life within 500ms under KVM"},
		{mode: "silent", accel: qemu.TCG, to: short, status: BootTimeout},
		// On trial on microvm: only a guest that never reached the agent
		// is booted again on pc.
		{mode: "completed", to: roomy, machine: qemu.Microvm, trial: 10 * time.Second, status: Completed},
		{mode: "silent", to: short, machine: qemu.Microvm, trial: time.Second, status: BootTimeout,
			detail: "no sign of life from the guest agent within 1s", microvm: "on microvm the kernel did not reach the guest agent within 1s"},
		{mode: "early-panic", to: roomy, machine: qemu.Microvm, trial: 10 * time.Second, status: Crashed,
			title: "Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)", microvm: "on microvm the VM ended before the guest agent's first words (crashed: Kernel panic"},
		{mode: "no-microvm", to: roomy, machine: qemu.Microvm, trial: 10 * time.Second, status: QEMUFailed,
			microvm: "on microvm QEMU did not start"},
		{mode: "panic", to: roomy, machine: qemu.Microvm, trial: 10 * time.Second, status: Crashed, title: "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009"},
		{mode: "no-done", to: roomy, machine: qemu.Microvm, trial: 10 * time.Second, status: NoDone, detail: `the VM ended before the agent's done record`},
		// Both on trial: both say so, and the caller drops microvm first.
		{mode: "silent", accel: qemu.KVM, to: short, life: 500 * time.Millisecond, machine: qemu.Microvm, trial: time.Second, status: BootTimeout,
			kvmFailure: "no sign of life within 500ms under KVM", microvm: "did not reach the guest agent within 500ms"},
		// Not on trial (a cached microvm verdict): nothing is retried.
		{mode: "silent", to: short, machine: qemu.Microvm, status: BootTimeout},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%s/%s", tt.mode, tt.accel, tt.machine, tt.trial), func(t *testing.T) {
			if tt.mode == "stall" && testing.Short() {
				t.Skip("waits the 11 s case grace")
			}
			accel := tt.accel
			if accel == "" {
				accel = qemu.TCG
			}
			res, again := fakeBoot(t, t.Context(), tt.mode, accel, tt.machine, tt.to, tt.life, tt.trial)
			kvmFailure := again.kvm
			if res.Status != tt.status || !strings.Contains(res.StatusDetail, tt.detail) {
				t.Errorf("status %s (%s), want %s (%s)", res.Status, res.StatusDetail, tt.status, tt.detail)
			}
			if res.CrashTitle != tt.title {
				t.Errorf("crash title %q, want %q", res.CrashTitle, tt.title)
			}
			if (tt.kvmFailure == "") != (kvmFailure == "") || !strings.Contains(kvmFailure, tt.kvmFailure) {
				t.Errorf("KVM blamed for %q, want %q", kvmFailure, tt.kvmFailure)
			}
			if (tt.microvm == "") != (again.microvm == "") || !strings.Contains(again.microvm, tt.microvm) {
				t.Errorf("booted again on pc for %q, want %q", again.microvm, tt.microvm)
			}
			if len(res.Cases) != 2 {
				t.Errorf("%d cases, want both (run or not)", len(res.Cases))
			}
		})
	}
}

// TestBootInterrupted: a cancelled context (SIGINT in the CLI) ends the
// VM at once with status interrupted, keeping the cases that ran.
func TestBootInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	go func() { time.Sleep(500 * time.Millisecond); cancel() }()
	start := time.Now()
	res, _ := fakeBoot(t, ctx, "stall", qemu.TCG, "", Timeouts{Boot: 10 * time.Second, Case: 10 * time.Second, Run: time.Minute}, 0, 0)
	if res.Status != Interrupted || !strings.Contains(res.StatusDetail, "stopped after 1 of 2 cases") {
		t.Errorf("status %s (%s), want interrupted after 1 of 2", res.Status, res.StatusDetail)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s to stop", d)
	}
	if res.Cases[0].Outcome != "pass" || res.Cases[1].Reason != "not run: interrupted" {
		t.Errorf("cases %+v", res.Cases)
	}
}

// staticELF writes the least an agent binary must be for Prepare: an
// x86-64 ELF executable without a dynamic loader.
func staticELF(t *testing.T) string {
	h := make([]byte, 64)
	copy(h, "\x7fELF\x02\x01\x01")
	le := binary.LittleEndian
	le.PutUint16(h[16:], 2)  // ET_EXEC
	le.PutUint16(h[18:], 62) // EM_X86_64
	le.PutUint32(h[20:], 1)
	le.PutUint16(h[52:], 64)
	le.PutUint16(h[54:], 56)
	p := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(p, h, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunMachineTrial: a kernel with no machine verdict boots on microvm;
// one that does not reach the agent there boots again on pc within the
// same run, and the verdict is cached for its next run, which boots on
// pc at once. A kernel that reaches the agent on microvm is cached there,
// whatever its cases do; one that fails everywhere, or crashes after its
// agent's hello, records nothing.
func TestRunMachineTrial(t *testing.T) {
	if testing.Short() {
		t.Skip("boots the fake QEMU a dozen times, waiting out boot timeouts")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	agent := staticELF(t)
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // what the fake QEMU says of itself
	const trialFailed = "pc: on microvm the kernel did not reach the guest agent within 3s"
	type boot struct {
		machines string // the fake QEMU's boots, in order
		from     string // Boot.MachineFrom
		machine  qemu.Machine
		status   Status
	}
	tests := []struct {
		name  string
		mode  string
		debug contract.DebugMode
		runs  []boot
		note  string // of the last run (substring; "": none beyond the bzImage's)
	}{
		{name: "needs pc: retried on pc, then pc at once", mode: "microvm:silent", runs: []boot{
			{"microvm pc", fastboot.FromFallback, qemu.PC, Completed},
			{"pc", fastboot.FromCache, qemu.PC, Completed},
		}, note: trialFailed},
		{name: "a QEMU without microvm", mode: "microvm:no-microvm", runs: []boot{
			{"microvm pc", fastboot.FromFallback, qemu.PC, Completed},
			{"pc", fastboot.FromCache, qemu.PC, Completed},
		}, note: "pc: on microvm QEMU did not start"},
		{name: "works on microvm: cached", mode: "completed", runs: []boot{
			{"microvm", fastboot.FromTrial, qemu.Microvm, Completed},
			{"microvm", fastboot.FromCache, qemu.Microvm, Completed},
		}},
		{name: "a crash after the hello is not retried, nor recorded", mode: "panic", runs: []boot{
			{"microvm", fastboot.FromTrial, qemu.Microvm, Crashed},
			{"microvm", fastboot.FromTrial, qemu.Microvm, Crashed},
		}},
		{name: "silent everywhere: pc tried, nothing recorded", mode: "silent", runs: []boot{
			{"microvm pc", fastboot.FromFallback, qemu.PC, BootTimeout},
			{"microvm pc", fastboot.FromFallback, qemu.PC, BootTimeout},
		}, note: trialFailed},
		{name: "a --debug failure is not put on trial", mode: "silent", debug: contract.DebugSilent, runs: []boot{
			{"pc", fastboot.FromRule, qemu.PC, BootTimeout},
		}, note: "pc: --debug silent fakes a failure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kernel, err := testutils.WriteBzImage(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv(fakeQEMUEnv, tt.mode)
			log := filepath.Join(t.TempDir(), "boots")
			t.Setenv(fakeQEMULog, log)
			cache := t.TempDir()
			lastNote := ""
			for i, want := range tt.runs {
				os.Remove(log)
				var progress strings.Builder
				p, err := Prepare(Options{Kernel: kernel, QEMU: self, Accel: qemu.AccelTCG, CacheDir: cache, Agent: agent, Debug: tt.debug,
					Cases: []string{"clone3/plain/ver0", "clone3/plain/size-zero"}, Out: filepath.Join(t.TempDir(), "r"),
					Timeouts: Timeouts{Boot: 3 * time.Second, Case: time.Second, Run: 20 * time.Second}, Progress: &progress})
				if err != nil {
					t.Fatal(err)
				}
				res, err := p.Run(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				b := res.Boot
				if b.MachineFrom == fastboot.FromRule && tt.debug == "" {
					t.Skipf("microvm ruled out on this host: %s", b.Note)
				}
				boots, _ := os.ReadFile(log)
				if got := strings.Join(strings.Fields(string(boots)), " "); got != want.machines || b.MachineFrom != want.from || b.Machine != want.machine || res.Status != want.status {
					t.Errorf("run %d: booted %q, %s from %s, %s; want %q, %s from %s, %s\n%s", i+1, got, b.Machine, b.MachineFrom, res.Status,
						want.machines, want.machine, want.from, want.status, progress.String())
				}
				// The argument list is the machine's: -machine and the
				// microvm-only TSC parameter agree.
				lastNote = b.Note
				if !strings.Contains(strings.Join(res.QEMU.Argv, " "), "-machine "+string(b.Machine)+",accel=tcg") {
					t.Errorf("run %d: argv %q is not for %s", i+1, res.QEMU.Argv, b.Machine)
				}
				if tsc := strings.Contains(strings.Join(res.QEMU.Argv, " "), "tsc_early_khz="); tsc != (b.Machine == qemu.Microvm) {
					t.Errorf("run %d on %s: tsc_early_khz given: %v", i+1, b.Machine, tsc)
				}
				if dropped := strings.Contains(progress.String(), "warning: microvm dropped"); dropped != strings.HasPrefix(want.machines, "microvm pc") {
					t.Errorf("run %d: a 'microvm dropped' warning: %v\n%s", i+1, dropped, progress.String())
				}
				if b.MachineFrom == fastboot.FromFallback && (b.MicrovmMS <= 0 || b.MicrovmFailure == "") {
					t.Errorf("run %d: fallback without the trial's failure and time: %+v", i+1, b)
				}
				if res.Timings.HostMS <= 0 {
					t.Errorf("run %d: host_ms %v", i+1, res.Timings.HostMS)
				}
			}
			if !strings.Contains(lastNote, tt.note) {
				t.Errorf("last run's note %q, want %q", lastNote, tt.note)
			}
		})
	}
}
