package run

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// Events for the monitor's tables, at a time from QEMU's start.
func lineAt(at time.Duration, l string) event { return event{kind: evLine, at: at, line: l + "\n"} }
func qmpEv(name, reason string) event         { return event{kind: evQMP, name: name, reason: reason} }
func runStatus(st string, err error) event    { return event{kind: evRunStatus, status: st, err: err} }
func exited(err error) event                  { return event{kind: evExited, err: err} }

var (
	stallFires = event{kind: evStall}
	runExpires = event{kind: evRunDeadline}
)

// The guest's side of a two-case run.
var (
	header = []event{lineAt(1500*time.Millisecond, "KTAP version 1"), lineAt(1500*time.Millisecond, "1..2")}
	case1  = lineAt(2*time.Second, "ok 1 clone3/plain/ver0")
	case2  = lineAt(3*time.Second, "not ok 2 clone3/plain/size-zero")
	doneAt = lineAt(3250*time.Millisecond, "# vmtest-done 2")
	// lateAt is when the tests' last words arrive, after the run ended.
	lateAt = 4 * time.Second
)

func seq(parts ...any) []event {
	var evs []event
	for _, p := range parts {
		switch p := p.(type) {
		case event:
			evs = append(evs, p)
		case []event:
			evs = append(evs, p...)
		}
	}
	return evs
}

// TestMonitorOutcomes: every way a run can end, decided from its events
// alone. Timers are events here: a row says when the stall timer fires,
// and checks how the monitor armed it.
func TestMonitorOutcomes(t *testing.T) {
	to := Timeouts{Boot: 2 * time.Second, Case: time.Second, Run: time.Minute}
	grace := 11 * time.Second // Case + max(10s, Case/2)
	const kvmStderr = "KVM internal error. Suberror: 1\nemulation failure\nRAX=0\nRBX=0\n"
	const panicConsole = "[    1.0] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009\n"
	cancelled := func(err, cause error) event { return event{kind: evCancelled, err: err, cause: cause} }
	tests := []struct {
		name string
		to   Timeouts
		life time.Duration
		kvm  bool
		// trial > 0: on microvm on trial (fastboot.FromTrial).
		trial time.Duration
		// selected is how many cases the host selected (default 2).
		selected int
		// stop is StopOnFailure.
		stop   bool
		events []event
		// late is what the guest wrote last, delivered after the end.
		late            []string
		complete        bool // what late said of the last of them
		stderr, console string

		acts       []action        // every decision but keepGoing, in order
		stalls     []time.Duration // every arming of the stall timer, begin's first
		status     Status
		detail     string
		title      string
		kvmFailure string
		// microvm: the kernel is booted again on pc, for this reason.
		microvm string
		ran     int // cases reported by the guest
		bootMS  float64
		casesMS float64
	}{
		{name: "completed", events: seq(header, case1, case2, doneAt),
			acts: []action{quitVM}, stalls: []time.Duration{2 * time.Second, grace, grace, grace},
			status: Completed, ran: 2, bootMS: 1500, casesMS: 1750},
		{name: "completed, the done record among the last words", events: seq(header, case1, case2, exited(nil)),
			// Delivered at lateAt: it times the cases, and nothing more is to come.
			late: []string{"# vmtest-done 2\n"}, complete: true,
			acts: []action{collect}, stalls: []time.Duration{2 * time.Second, grace, grace, grace},
			status: Completed, ran: 2, bootMS: 1500, casesMS: 2500},
		{name: "no done record", events: seq(header, case1, qmpEv("SHUTDOWN", "guest-shutdown"), exited(errors.New("exit status 1"))),
			acts: []action{collect}, stalls: []time.Duration{2 * time.Second, grace, grace},
			status: NoDone, detail: `the VM ended before the agent's done record (QEMU: exit status 1, shutdown reason "guest-shutdown")`, ran: 1, bootMS: 1500},
		{name: "no done record after a guest reset", events: seq(header, qmpEv("SHUTDOWN", "guest-reset"), exited(nil)),
			acts: []action{collect}, stalls: []time.Duration{2 * time.Second, grace},
			status: NoDone, detail: `the VM ended before the agent's done record (QEMU: <nil>, shutdown reason "guest-reset"); with panic=-1 a guest reset means the kernel panicked`, bootMS: 1500},
		{name: "boot timeout", events: seq(lineAt(time.Second, "SeaBIOS noise"), stallFires),
			acts: []action{killVM}, stalls: []time.Duration{2 * time.Second},
			status: BootTimeout, detail: "no sign of life from the guest agent within 2s"},
		{name: "boot timeout under KVM chosen by auto blames KVM", life: 500 * time.Millisecond, kvm: true, events: seq(stallFires),
			acts: []action{killVM}, stalls: []time.Duration{500 * time.Millisecond},
			status: BootTimeout, detail: "no sign of life from the guest agent within 500ms", kvmFailure: "the guest showed no sign of life within 500ms under KVM"},
		{name: "the life window never exceeds the boot timeout", life: 10 * time.Second, kvm: true, events: seq(stallFires),
			acts: []action{killVM}, stalls: []time.Duration{2 * time.Second},
			status: BootTimeout, detail: "no sign of life from the guest agent within 2s", kvmFailure: "the guest showed no sign of life within 2s under KVM"},
		{name: "boot timeout under KVM the user asked for does not blame it", kvm: true, events: seq(stallFires),
			acts: []action{killVM}, stalls: []time.Duration{2 * time.Second},
			status: BootTimeout, detail: "no sign of life from the guest agent within 2s"},
		{name: "case timeout", events: seq(header, case1, stallFires),
			late: []string{"not ok 2 clone3/plain/size-zero # ERROR stuck\n"},
			acts: []action{killVM}, stalls: []time.Duration{2 * time.Second, grace, grace},
			// The detail counts the cases the last words delivered.
			status: CaseTimeout, detail: "no result for 11s after case 2 of 2", ran: 2, bootMS: 1500},
		{name: "case grace scales with a long case timeout", to: Timeouts{Boot: time.Second, Case: time.Minute, Run: time.Hour}, events: seq(header, stallFires),
			acts: []action{killVM}, stalls: []time.Duration{time.Second, 90 * time.Second},
			status: CaseTimeout, detail: "no result for 1m30s after case 0 of 2", bootMS: 1500},
		{name: "run timeout", events: seq(header, case1, runExpires),
			acts: []action{killVM}, stalls: []time.Duration{2 * time.Second, grace, grace},
			status: RunTimeout, detail: "the run exceeded 1m0s", ran: 1, bootMS: 1500},
		{name: "interrupted", events: seq(header, case1, cancelled(context.Canceled, errors.New("interrupt"))),
			acts: []action{killVM}, stalls: []time.Duration{2 * time.Second, grace, grace},
			status: Interrupted, detail: "stopped after 1 of 2 cases: interrupt", ran: 1, bootMS: 1500},
		{name: "interrupted before the plan counts the selected cases", selected: 3, events: seq(cancelled(context.Canceled, context.Canceled)),
			acts: []action{killVM}, stalls: []time.Duration{2 * time.Second},
			status: Interrupted, detail: "stopped after 0 of 3 cases: context canceled"},
		{name: "a caller's deadline is a run timeout", events: seq(header, cancelled(context.DeadlineExceeded, context.DeadlineExceeded)),
			acts: []action{killVM}, stalls: []time.Duration{2 * time.Second, grace},
			status: RunTimeout, detail: "stopped after 0 of 2 cases: context deadline exceeded", bootMS: 1500},
		{name: "QEMU failed: internal error under KVM", kvm: true, life: 10 * time.Second, stderr: kvmStderr,
			events: seq(header, qmpEv("STOP", ""), runStatus("internal-error", nil)),
			acts:   []action{queryStatus, killVM}, stalls: []time.Duration{2 * time.Second, grace},
			status: QEMUFailed, detail: "QEMU stopped the VM with an internal error: KVM internal error. Suberror: 1 | emulation failure | RAX=0",
			kvmFailure: "QEMU stopped the VM with an internal error: KVM internal error. Suberror: 1 | emulation failure | RAX=0", bootMS: 1500},
		{name: "QEMU failed: internal error under TCG does not blame KVM", events: seq(qmpEv("STOP", ""), runStatus("internal-error", nil)),
			acts: []action{queryStatus, killVM}, stalls: []time.Duration{2 * time.Second},
			status: QEMUFailed, detail: "QEMU stopped the VM with an internal error: (QEMU printed nothing)"},
		{name: "a STOP that is not an error goes on", events: seq(header, qmpEv("STOP", ""), runStatus("paused", nil), qmpEv("STOP", ""), runStatus("", errors.New("QMP gone")), case1, case2, doneAt),
			acts: []action{queryStatus, queryStatus, quitVM}, stalls: []time.Duration{2 * time.Second, grace, grace, grace},
			status: Completed, ran: 2, bootMS: 1500, casesMS: 1750},
		{name: "crashed: pvpanic", events: seq(header, case1, qmpEv("GUEST_PANICKED", ""), exited(nil)),
			acts: []action{collect}, stalls: []time.Duration{2 * time.Second, grace, grace},
			status: Crashed, title: "kernel panic (reported by pvpanic)",
			detail: `kernel panic (reported by pvpanic): the VM ended before the agent's done record (QEMU: <nil>, shutdown reason "")`, ran: 1, bootMS: 1500},
		{name: "crashed: a panic on the console", console: panicConsole, events: seq(header, case1, stallFires),
			acts: []action{killVM}, stalls: []time.Duration{2 * time.Second, grace, grace},
			status: Crashed, title: "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009",
			detail: "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009: no result for 11s after case 1 of 2", ran: 1, bootMS: 1500},
		{name: "on trial on microvm, no sign of life: booted again on pc", trial: time.Second, events: seq(lineAt(time.Second, "qboot noise"), stallFires),
			acts: []action{killVM}, stalls: []time.Duration{time.Second},
			status: BootTimeout, detail: "no sign of life from the guest agent within 1s", microvm: "on microvm the kernel did not reach the guest agent within 1s"},
		{name: "on trial, the trial window never exceeds the boot timeout", trial: 30 * time.Second, events: seq(stallFires),
			acts: []action{killVM}, stalls: []time.Duration{2 * time.Second},
			status: BootTimeout, detail: "no sign of life from the guest agent within 2s", microvm: "on microvm the kernel did not reach the guest agent within 2s"},
		{name: "on trial, a panic before the agent: booted again on pc", trial: time.Second, console: panicConsole, events: seq(qmpEv("SHUTDOWN", "guest-reset"), exited(nil)),
			acts: []action{collect}, stalls: []time.Duration{time.Second},
			status: Crashed, title: "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009",
			detail:  `Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009: the VM ended before the agent's done record (QEMU: <nil>, shutdown reason "guest-reset"); with panic=-1 a guest reset means the kernel panicked`,
			microvm: `on microvm the VM ended before the guest agent's first words (crashed: Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000009: the VM ended before the agent's done record (QEMU: <nil>, shutdown reason "guest-reset"); with panic=-1 a guest reset means the kernel panicked)`},
		{name: "on trial, QEMU stops the VM before the agent: booted again on pc", trial: time.Second, events: seq(qmpEv("STOP", ""), runStatus("internal-error", nil)),
			acts: []action{queryStatus, killVM}, stalls: []time.Duration{time.Second},
			status: QEMUFailed, detail: "QEMU stopped the VM with an internal error: (QEMU printed nothing)",
			microvm: "on microvm the VM ended before the guest agent's first words (qemu-failed: QEMU stopped the VM with an internal error: (QEMU printed nothing))"},
		{name: "on trial, a crash after the agent's hello is the kernel's: not retried", trial: time.Second, events: seq(header, case1, qmpEv("GUEST_PANICKED", ""), exited(nil)),
			acts: []action{collect}, stalls: []time.Duration{time.Second, grace, grace},
			status: Crashed, title: "kernel panic (reported by pvpanic)",
			detail: `kernel panic (reported by pvpanic): the VM ended before the agent's done record (QEMU: <nil>, shutdown reason "")`, ran: 1, bootMS: 1500},
		{name: "on trial, failing cases are the kernel's: not retried", trial: time.Second, events: seq(header, case1, case2, doneAt),
			acts: []action{quitVM}, stalls: []time.Duration{time.Second, grace, grace, grace},
			status: Completed, ran: 2, bootMS: 1500, casesMS: 1750},
		{name: "on trial, a stall after the hello is a case timeout: not retried", trial: time.Second, events: seq(header, stallFires),
			acts: []action{killVM}, stalls: []time.Duration{time.Second, grace},
			status: CaseTimeout, detail: "no result for 11s after case 0 of 2", bootMS: 1500},
		{name: "on trial, interrupted before the agent: not retried", trial: time.Second, events: seq(cancelled(context.Canceled, errors.New("interrupt"))),
			acts: []action{killVM}, stalls: []time.Duration{time.Second},
			status: Interrupted, detail: "stopped after 0 of 2 cases: interrupt"},
		{name: "on trial under KVM chosen by auto: both blamed, the shorter window", trial: time.Second, life: 500 * time.Millisecond, kvm: true, events: seq(stallFires),
			acts: []action{killVM}, stalls: []time.Duration{500 * time.Millisecond},
			status: BootTimeout, detail: "no sign of life from the guest agent within 500ms",
			kvmFailure: "the guest showed no sign of life within 500ms under KVM", microvm: "on microvm the kernel did not reach the guest agent within 500ms"},
		{name: "a cached machine verdict (pc, or microvm): no sign of life is not retried", events: seq(stallFires),
			acts: []action{killVM}, stalls: []time.Duration{2 * time.Second},
			status: BootTimeout, detail: "no sign of life from the guest agent within 2s"},
		{name: "StopOnFailure ends the run at the first failing case, completed", stop: true, selected: 3,
			events: seq(header, case1, case2),
			acts:   []action{killVM}, stalls: []time.Duration{2 * time.Second, grace, grace},
			status: Completed, detail: "stopped at the first failing case, clone3/plain/size-zero, after 2 of 3 cases (StopOnFailure)", ran: 2, bootMS: 1500},
		{name: "StopOnFailure lets passing cases run on", stop: true, events: seq(header, case1, lineAt(3*time.Second, "ok 2 clone3/plain/size-zero"), doneAt),
			acts: []action{quitVM}, stalls: []time.Duration{2 * time.Second, grace, grace, grace},
			status: Completed, ran: 2, bootMS: 1500, casesMS: 1750},
		{name: "a kernel report the kernel survived is kept, not a crash", events: seq(header, case1, case2, doneAt),
			console: "[    1.0] WARNING: CPU: 0 PID: 9 at kernel/pid.c:229 alloc_pid+0x1/0x2\n",
			acts:    []action{quitVM}, stalls: []time.Duration{2 * time.Second, grace, grace, grace},
			status: Completed, title: "WARNING: at kernel/pid.c:229 alloc_pid", ran: 2, bootMS: 1500, casesMS: 1750},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.to == (Timeouts{}) {
				tt.to = to
			}
			if tt.selected == 0 {
				tt.selected = 2
			}
			var progress strings.Builder
			m := newMonitor(tt.to, tt.life, tt.kvm, tt.selected, &progress)
			m.trial = tt.trial
			m.stopOnFailure = tt.stop
			d := m.begin()
			stalls := []time.Duration{d.stall}
			var acts []action
			for i, ev := range tt.events {
				if d.done() {
					t.Fatalf("event %d (%+v) after the run was over", i, ev)
				}
				d = m.step(ev)
				if d.act != keepGoing {
					acts = append(acts, d.act)
				}
				if d.stall > 0 {
					stalls = append(stalls, d.stall)
				}
			}
			if !d.done() {
				t.Fatalf("the run is not over after every event (last decision %+v)", d)
			}
			complete := false
			for _, l := range tt.late {
				complete = m.late(l, lateAt)
			}
			if complete != tt.complete {
				t.Errorf("late lines complete the stream: %v, want %v", complete, tt.complete)
			}
			res := &Result{}
			kvmFailure := m.conclude(res, tt.stderr, tt.console)
			if !slices.Equal(acts, tt.acts) {
				t.Errorf("actions %v, want %v", acts, tt.acts)
			}
			if !slices.Equal(stalls, tt.stalls) {
				t.Errorf("stall timer armed for %v, want %v", stalls, tt.stalls)
			}
			if res.Status != tt.status || res.StatusDetail != tt.detail {
				t.Errorf("status %s (%q), want %s (%q)", res.Status, res.StatusDetail, tt.status, tt.detail)
			}
			if res.CrashTitle != tt.title {
				t.Errorf("crash title %q, want %q", res.CrashTitle, tt.title)
			}
			if kvmFailure != tt.kvmFailure {
				t.Errorf("KVM blamed for %q, want %q", kvmFailure, tt.kvmFailure)
			}
			if got := m.microvmFailure(res, tt.stderr); got != tt.microvm {
				t.Errorf("booted again on pc for %q, want %q", got, tt.microvm)
			}
			if len(res.Cases) != tt.ran {
				t.Errorf("%d cases, want %d", len(res.Cases), tt.ran)
			}
			if res.Timings.BootMS != tt.bootMS || res.Timings.CasesMS != tt.casesMS {
				t.Errorf("boot %vms, cases %vms, want %v and %v", res.Timings.BootMS, res.Timings.CasesMS, tt.bootMS, tt.casesMS)
			}
			if tt.bootMS > 0 && !strings.Contains(progress.String(), fmt.Sprintf("guest agent up after %.1fs", tt.bootMS/1000)) {
				t.Errorf("progress does not report the agent up:\n%s", progress.String())
			}
		})
	}
}

// TestMonitorProgress: one line per case as it arrives, and a warning for
// a malformed line, which does not end the run.
func TestMonitorProgress(t *testing.T) {
	var progress strings.Builder
	m := newMonitor(Timeouts{Boot: time.Second, Case: time.Second, Run: time.Minute}, 0, false, 2, &progress)
	for _, ev := range seq(header, case1, lineAt(2500*time.Millisecond, "# vmtest-case {not json"), case2) {
		if d := m.step(ev); d.done() {
			t.Fatalf("%q ended the run", ev.line)
		}
	}
	want := "guest agent up after 1.5s\n[1/2] pass        clone3/plain/ver0\nwarning: "
	if got := progress.String(); !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "[2/2] fail        clone3/plain/size-zero\n") {
		t.Errorf("progress:\n%s\nwant it to start %q and end with case 2", got, want)
	}
}

// TestStartFailed: QEMU that does not start is a QEMU failure, unless the
// run was being stopped anyway.
func TestStartFailed(t *testing.T) {
	boom := errors.New("start qemu-system-x86_64: no such file")
	for _, tt := range []struct {
		ctxErr error
		want   Status
	}{
		{nil, QEMUFailed},
		{context.Canceled, Interrupted},
		{context.DeadlineExceeded, RunTimeout},
	} {
		st, detail := startFailed(boom, tt.ctxErr)
		if st != tt.want || detail != boom.Error() {
			t.Errorf("startFailed(ctx %v) = %s (%q), want %s (%q)", tt.ctxErr, st, detail, tt.want, boom)
		}
	}
}

// fakeMachine is a QEMU the loop drives: it records what was done to it.
type fakeMachine struct {
	events   chan qmp.Event
	exited   chan struct{}
	status   string
	mu       sync.Mutex
	did      []string
	exitOnce sync.Once
}

func newFakeMachine() *fakeMachine {
	return &fakeMachine{events: make(chan qmp.Event, 8), exited: make(chan struct{})}
}

func (f *fakeMachine) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.did = append(f.did, s)
}

func (f *fakeMachine) Events() <-chan qmp.Event { return f.events }
func (f *fakeMachine) Exited() <-chan struct{}  { return f.exited }
func (f *fakeMachine) ExitErr() error           { return nil }
func (f *fakeMachine) Stderr() string           { return "" }
func (f *fakeMachine) RunStatus(context.Context) (string, error) {
	f.record("query-status")
	return f.status, nil
}
func (f *fakeMachine) Quit(time.Duration) { f.record("quit"); f.exit() }
func (f *fakeMachine) Kill()              { f.record("kill"); f.exit() }
func (f *fakeMachine) exit()              { f.exitOnce.Do(func() { close(f.exited) }) }

// TestWatch: the loop turns channels and timers into the monitor's
// events and does what it decides to the VM: quit a finished run, kill a
// stuck one, ask after a STOP, and collect the last words.
func TestWatch(t *testing.T) {
	to := Timeouts{Boot: 200 * time.Millisecond, Case: time.Second, Run: time.Minute}
	for _, tt := range []struct {
		name  string
		guest []string
		qmp   []string
		exit  bool
		// cancel cancels the run's context.
		cancel bool
		run    time.Duration
		// what was done to the VM, and whether the last words were
		// collected.
		did     []string
		flushed bool
		status  Status
	}{
		{name: "done: quit", guest: []string{"KTAP version 1", "1..1", "ok 1 a", "# vmtest-done 1"}, did: []string{"quit"}, status: Completed},
		{name: "silent: killed by the stall timer", did: []string{"kill"}, flushed: true, status: BootTimeout},
		{name: "stuck: killed by the run timer", guest: []string{"KTAP version 1"}, run: 100 * time.Millisecond, did: []string{"kill"}, flushed: true, status: RunTimeout},
		{name: "internal error: asked, then killed", qmp: []string{"STOP"}, did: []string{"query-status", "kill"}, flushed: true, status: QEMUFailed},
		{name: "cancelled: killed", guest: []string{"KTAP version 1"}, cancel: true, did: []string{"kill"}, flushed: true, status: Interrupted},
		{name: "exit: nothing to kill", guest: []string{"KTAP version 1"}, exit: true, flushed: true, status: NoDone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			vm := newFakeMachine()
			vm.status = "internal-error"
			results := make(chan string, 8)
			for _, l := range tt.guest {
				results <- l + "\n"
			}
			for _, e := range tt.qmp {
				vm.events <- qmp.Event{Event: e}
			}
			if tt.exit {
				time.AfterFunc(50*time.Millisecond, vm.exit)
			}
			run := tt.run
			if run == 0 {
				run = to.Run
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancel {
				time.AfterFunc(50*time.Millisecond, cancel)
			}
			flushed := false
			m := newMonitor(to, 0, false, 1, nil)
			done := make(chan struct{})
			go func() {
				defer close(done)
				watch(ctx, vm, results, m, time.Now(), run, func() { flushed = true })
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("watch did not return")
			}
			res := &Result{}
			m.conclude(res, "", "")
			if !slices.Equal(vm.did, tt.did) || flushed != tt.flushed || res.Status != tt.status {
				t.Errorf("did %v (last words collected: %v), status %s; want %v (%v), %s", vm.did, flushed, res.Status, tt.did, tt.flushed, tt.status)
			}
		})
	}
}

// TestDrainStopsAtDone: the last words are read until the done record,
// not for the whole window: the channel stays open (the tail goroutine
// lives until the run's context ends) and the window is long.
func TestDrainStopsAtDone(t *testing.T) {
	ch := make(chan string, 3)
	ch <- "ok 2 b\n"
	ch <- "# vmtest-done 2\n"
	ch <- "after the done record\n"
	var fed []string
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		drain(ch, func(l string) bool { fed = append(fed, l); return strings.HasPrefix(l, "# vmtest-done") }, time.Hour)
	}()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("drain still waiting after the done record")
	}
	if want := []string{"ok 2 b\n", "# vmtest-done 2\n"}; !slices.Equal(fed, want) {
		t.Errorf("fed %q, want %q", fed, want)
	}
}
