package run

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/vmtest/vmtest/host/qemu"
)

// machine is what the boot loop needs of a running QEMU; *qemu.VM is one.
// The loop's tests give it a fake.
type machine interface {
	// Events streams QMP events; it is closed with the connection.
	Events() <-chan qmp.Event
	// Exited is closed when QEMU has exited; ExitErr is then its error.
	Exited() <-chan struct{}
	ExitErr() error
	// RunStatus asks QEMU for the VM's run state.
	RunStatus(ctx context.Context) (string, error)
	// Quit asks QEMU to quit, killing it after grace; Kill kills it. Both
	// return once QEMU has exited.
	Quit(grace time.Duration)
	Kill()
	// Stderr is what QEMU printed.
	Stderr() string
}

var _ machine = (*qemu.VM)(nil)

// retry says why a boot is to be run again another way ("": not that
// way); the caller decides which, if both.
type retry struct {
	// kvm: under KVM chosen by auto, the guest showed no sign of life or
	// QEMU stopped it with an internal error: run it under TCG.
	kvm string
	// microvm: on trial on microvm, the guest did not reach the agent:
	// boot it on pc.
	microvm string
}

// boot runs the VM and fills res with what happened.
// pump, when not nil, copies the shared-memory result channel into the
// results file; boot stops it. When life > 0 the guest runs under KVM
// chosen by auto: if it shows no sign of life within life, or QEMU stops
// it with an internal error, boot ends it and says why (the caller runs
// it again under TCG). When trial > 0 the guest runs on microvm on trial:
// if it does not reach the agent within trial, boot ends it and says why
// (the caller boots it again on pc).
func (p *Prepared) boot(ctx context.Context, cfg qemu.Config, dir string, to Timeouts, life, trial time.Duration, res *Result, progress io.Writer, pump *shmPump) (again retry) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
		res.Status, res.StatusDetail = startFailed(err, ctx.Err())
		res.Timings.TotalMS = ms(time.Since(start))
		if trial > 0 && ctx.Err() == nil {
			// A QEMU without microvm, say, exits before its QMP socket.
			again.microvm = "on microvm QEMU did not start: " + err.Error()
		}
		return again
	}
	m := newMonitor(to, life, cfg.Accel == qemu.KVM, len(p.cases), progress)
	m.trial = trial
	m.stopOnFailure = p.opts.StopOnFailure
	flush := func() {}
	if pump != nil {
		flush = pump.flush
	}
	watch(ctx, vm, tail(ctx, filepath.Join(dir, qemu.ResultsFile)), m, start, to.Run, flush)
	cancel()
	res.Timings.TotalMS = ms(time.Since(start))
	console, _ := os.ReadFile(filepath.Join(dir, qemu.ConsoleLog))
	again.kvm = m.conclude(res, vm.Stderr(), string(console))
	again.microvm = m.microvmFailure(res, vm.Stderr())
	return again
}

// lastWordsWait is how long the loop keeps reading result lines after it
// ended the VM: the tail of the file QEMU wrote last.
const lastWordsWait = 300 * time.Millisecond

// watch feeds m what vm and the result channel do, and applies its
// decisions, until the run is over. start is QEMU's start (events are
// timed from it), run the whole-run limit; flush copies what the guest
// wrote to shared memory into the results file.
func watch(ctx context.Context, vm machine, results <-chan string, m *monitor, start time.Time, run time.Duration, flush func()) {
	events := vm.Events()
	runDeadline := time.NewTimer(run)
	defer runDeadline.Stop()
	d := m.begin()
	stall := time.NewTimer(d.stall)
	defer stall.Stop()
	for !d.done() {
		var ev event
		select {
		case line, ok := <-results:
			if !ok {
				results = nil
				continue
			}
			ev = event{kind: evLine, line: line}
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			ev = event{kind: evQMP, name: e.Event, reason: qemu.ShutdownReason(e)}
		case <-vm.Exited():
			ev = event{kind: evExited, err: vm.ExitErr()}
		case <-stall.C:
			ev = event{kind: evStall}
		case <-runDeadline.C:
			ev = event{kind: evRunDeadline}
		case <-ctx.Done():
			ev = event{kind: evCancelled, err: ctx.Err(), cause: context.Cause(ctx)}
		}
		ev.at = time.Since(start)
		d = m.step(ev)
		if d.act == queryStatus {
			st, err := vm.RunStatus(ctx)
			d = m.step(event{kind: evRunStatus, at: time.Since(start), status: st, err: err})
		}
		if d.stall > 0 {
			resetTimer(stall, d.stall)
		}
	}
	switch d.act {
	case quitVM:
		vm.Quit(5 * time.Second)
		return
	case killVM:
		vm.Kill()
	}
	// What the guest wrote to shared memory last: copy it and give the
	// tail a moment to deliver it (and what QEMU wrote last), but no
	// longer than it takes to see the done record. A guest that powers
	// off right after writing it often beats the tail to it; waiting out
	// the whole window then cost every such run 0.3 s.
	flush()
	drain(results, func(line string) bool { return m.late(line, time.Since(start)) }, lastWordsWait)
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

// drain hands feed the lines ch delivers within wait, until feed says the
// stream is complete.
func drain(ch <-chan string, feed func(string) (complete bool), wait time.Duration) {
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
			if feed(line) {
				return
			}
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
