package run

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/catalog"
)

// The test binary doubles as a fake QEMU: with fakeQEMUEnv set it plays
// one scenario (a guest that completes, crashes, stalls, ...) against the
// real boot loop, over a real QMP socket, without a kernel.
const fakeQEMUEnv = "VMTEST_FAKE_QEMU"

func TestMain(m *testing.M) {
	if mode := os.Getenv(fakeQEMUEnv); mode != "" {
		os.Exit(fakeQEMU(mode))
	}
	os.Exit(m.Run())
}

// fakeQEMU serves QMP on qmp.sock in the working directory (as the real
// command line asks) and writes the guest's side of mode.
func fakeQEMU(mode string) int {
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
	case "silent", "hang":
	}
	select {} // until killed
}

// fakeBoot runs the boot loop against the fake QEMU in mode.
func fakeBoot(t *testing.T, ctx context.Context, mode string, accel qemu.Accel, to Timeouts, life time.Duration) (*Result, string) {
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
	cfg := qemu.New("bzImage", "initramfs", qemu.WithBinary(self), qemu.WithAccel(accel))
	res := &Result{}
	var progress strings.Builder
	kvmFailure := p.boot(ctx, cfg, dir, to, life, res, &progress, nil)
	finish(res, p.cases)
	return res, kvmFailure
}

// TestBootOutcomes: every way a VM's life can end, classified, without a
// kernel.
func TestBootOutcomes(t *testing.T) {
	short := Timeouts{Boot: 2 * time.Second, Case: time.Second, Run: 30 * time.Second}
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
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.mode, tt.accel), func(t *testing.T) {
			if tt.mode == "stall" && testing.Short() {
				t.Skip("waits the 11 s case grace")
			}
			accel := tt.accel
			if accel == "" {
				accel = qemu.TCG
			}
			res, kvmFailure := fakeBoot(t, t.Context(), tt.mode, accel, tt.to, tt.life)
			if res.Status != tt.status || !strings.Contains(res.StatusDetail, tt.detail) {
				t.Errorf("status %s (%s), want %s (%s)", res.Status, res.StatusDetail, tt.status, tt.detail)
			}
			if res.CrashTitle != tt.title {
				t.Errorf("crash title %q, want %q", res.CrashTitle, tt.title)
			}
			if (tt.kvmFailure == "") != (kvmFailure == "") || !strings.Contains(kvmFailure, tt.kvmFailure) {
				t.Errorf("KVM blamed for %q, want %q", kvmFailure, tt.kvmFailure)
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
	res, _ := fakeBoot(t, ctx, "stall", qemu.TCG, Timeouts{Boot: 10 * time.Second, Case: 10 * time.Second, Run: time.Minute}, 0)
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
