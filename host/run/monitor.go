package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vmtest/vmtest/internal/ktap"
)

// The monitor is the decision half of a boot: it is fed, one event at a
// time, everything the VM does (result lines, QMP events, QEMU's exit,
// timers firing, the run being cancelled) and decides, without doing any
// I/O of its own, what the loop must do next and, in the end, how the run
// ended. The loop in boot.go does the I/O: it reads the channels, owns the
// timers and QEMU, and applies the decisions. Split this way every outcome
// can be tested by feeding events, with no kernel, no QEMU and no clock.

// eventKind is what happened.
type eventKind int

const (
	// evLine is a line of the result channel (KTAP).
	evLine eventKind = iota
	// evQMP is a QMP event from QEMU (name, and reason for SHUTDOWN).
	evQMP
	// evRunStatus is QEMU's answer to query-status, asked for after a
	// STOP (status, or err when the query failed).
	evRunStatus
	// evExited is QEMU's process exit (err is its exit error).
	evExited
	// evStall is the stall timer firing: no sign of life in time (boot,
	// or the KVM life window) or no result in time (a case).
	evStall
	// evRunDeadline is the whole-run timer firing.
	evRunDeadline
	// evCancelled is the run's context ending (err is ctx.Err(), cause
	// its cause).
	evCancelled
)

// event is one input of the monitor.
type event struct {
	kind eventKind
	// at is when it happened, measured from QEMU's start: the monitor
	// keeps no clock of its own.
	at time.Duration
	// line is evLine's line.
	line string
	// name and reason are evQMP's event name and SHUTDOWN reason.
	name, reason string
	// status is evRunStatus's run state ("running", "internal-error").
	status string
	// err: evRunStatus's query error, evExited's exit error, evCancelled's
	// ctx.Err().
	err error
	// cause is evCancelled's context.Cause.
	cause error
}

// action is what the loop must do with the VM.
type action int

const (
	// keepGoing: nothing; wait for the next event.
	keepGoing action = iota
	// queryStatus: ask QEMU for its run state and feed back evRunStatus.
	queryStatus
	// quitVM: the run is over and complete; ask QEMU to quit over QMP.
	quitVM
	// killVM: the run is over; kill QEMU and collect its last words.
	killVM
	// collect: the run is over and QEMU is already gone; collect its
	// last words.
	collect
)

// decision is the monitor's answer to one event.
type decision struct {
	act action
	// stall, when > 0, (re)arms the stall timer for that long.
	stall time.Duration
}

// done reports whether the run is over: the loop stops feeding events,
// applies act, hands the last result lines to late, then calls conclude.
func (d decision) done() bool { return d.act >= quitVM }

// ending is why the run is over.
type ending int

const (
	notEnded ending = iota
	endDone
	endExited
	endStall
	endRunDeadline
	endCancelled
	endInternalError
	// endStopped: StopOnFailure, at the first failing case.
	endStopped
)

// monitor classifies one boot from its events. It is not safe for
// concurrent use: one loop feeds it.
type monitor struct {
	to Timeouts
	// life > 0: the guest runs under KVM chosen by auto and must show a
	// sign of life within life, or KVM is blamed.
	life time.Duration
	// kvm: the guest runs under KVM (an internal error blames it).
	kvm bool
	// trial > 0: the guest runs on microvm on trial (fastboot.FromTrial)
	// and must reach the agent within trial, or be booted again on pc
	// (see microvmFailure). Set after newMonitor.
	trial time.Duration
	// selected is how many cases the host selected.
	selected int
	progress io.Writer

	parser   *ktap.Parser
	booted   bool
	bootedAt time.Duration
	bootMS   float64
	casesMS  float64
	// shutdownReason is the last SHUTDOWN event's reason.
	shutdownReason string
	// panicked: QEMU reported GUEST_PANICKED (pvpanic).
	panicked bool
	// stopOnFailure ends the run at the first failing case (Options).
	stopOnFailure bool
	stoppedAt     string

	end     ending
	exitErr error // evExited
	ctxErr  error // evCancelled
	cause   error // evCancelled
}

func newMonitor(to Timeouts, life time.Duration, kvm bool, selected int, progress io.Writer) *monitor {
	if progress == nil {
		progress = io.Discard
	}
	return &monitor{to: to, life: life, kvm: kvm, selected: selected, progress: progress, parser: ktap.NewParser()}
}

// firstWait is how long the guest has to show its first sign of life,
// the agent's KTAP header: the boot timeout, or the KVM life window or
// the microvm trial's window when one is shorter.
func (m *monitor) firstWait() time.Duration {
	w := m.to.Boot
	for _, d := range []time.Duration{m.life, m.trial} {
		if d > 0 {
			w = min(w, d)
		}
	}
	return w
}

// caseGrace is how long the host waits for the next result once the
// agent is up. The guest enforces the case timeout itself and reports the
// case as an error; the host only steps in when the guest cannot (a hung
// kernel or agent), after a grace period for that report.
func (m *monitor) caseGrace() time.Duration {
	return m.to.Case + max(10*time.Second, m.to.Case/2)
}

// begin is the decision before any event: arm the stall timer for the
// first sign of life.
func (m *monitor) begin() decision { return decision{stall: m.firstWait()} }

// step takes one event and decides what to do.
func (m *monitor) step(ev event) decision {
	if m.end != notEnded {
		return decision{act: collect} // nothing changes an ended run
	}
	switch ev.kind {
	case evLine:
		return m.line(ev)
	case evQMP:
		switch ev.name {
		case "GUEST_PANICKED":
			m.panicked = true
		case "SHUTDOWN":
			m.shutdownReason = ev.reason
		case "STOP":
			// QEMU pauses a VM it cannot run on (a KVM internal error)
			// and would hold it until the run timeout: ask why.
			return decision{act: queryStatus}
		}
	case evRunStatus:
		if ev.err == nil && ev.status == "internal-error" {
			m.end = endInternalError
			return decision{act: killVM}
		}
	case evExited:
		m.end, m.exitErr = endExited, ev.err
		return decision{act: collect}
	case evStall:
		m.end = endStall
		return decision{act: killVM}
	case evRunDeadline:
		m.end = endRunDeadline
		return decision{act: killVM}
	case evCancelled:
		m.end, m.ctxErr, m.cause = endCancelled, ev.err, ev.cause
		return decision{act: killVM}
	}
	return decision{}
}

// line parses one result line; a case or the header re-arms the stall
// timer, the done record ends the run.
func (m *monitor) line(ev event) decision {
	kev, err := m.parser.Feed(ev.line)
	if err != nil {
		fmt.Fprintf(m.progress, "warning: %v\n", err)
	}
	if kev == nil {
		return decision{}
	}
	switch kev.Kind {
	case ktap.KindVersion:
		m.booted, m.bootedAt, m.bootMS = true, ev.at, ms(ev.at)
		fmt.Fprintf(m.progress, "guest agent up after %.1fs\n", ev.at.Seconds())
		return decision{stall: m.caseGrace()}
	case ktap.KindCase:
		fmt.Fprintf(m.progress, "[%d/%d] %-11s %s\n", len(m.parser.Cases), max(m.parser.Plan, 0), kev.Case.Outcome, kev.Case.ID)
		if m.stopOnFailure && kev.Case.Outcome.Failed() {
			m.end, m.stoppedAt = endStopped, kev.Case.ID
			return decision{act: killVM}
		}
		return decision{stall: m.caseGrace()}
	case ktap.KindDone:
		m.casesMS = ms(ev.at - m.bootedAt)
		m.end = endDone
		return decision{act: quitVM}
	}
	return decision{}
}

// late takes a result line that arrived at (since QEMU's start) after the
// run ended: what the guest wrote last, delivered while QEMU was being
// stopped or after it exited. Its cases count, and a late done record
// times the cases, but it changes neither the outcome nor the timers. It
// reports whether the done record is in: nothing more is to come. (A
// late done record's time is when the host read it, after QEMU ended, so
// it overstates the cases by the teardown: better than no figure.)
func (m *monitor) late(line string, at time.Duration) (complete bool) {
	kev, _ := m.parser.Feed(line)
	if kev != nil && kev.Kind == ktap.KindDone && m.booted {
		m.casesMS = ms(at - m.bootedAt)
	}
	return m.parser.Done
}

// conclude fills res with how the run ended: the status and its detail,
// the timings of the boot and the cases, the cases and the guest's info,
// and a kernel crash found in console (the console log). stderr is what
// QEMU printed. It returns why KVM is blamed, when it is: the guest under
// KVM chosen by auto showed no sign of life in the life window, or QEMU
// stopped a KVM guest with an internal error.
func (m *monitor) conclude(res *Result, stderr, console string) (kvmFailure string) {
	res.Timings.BootMS, res.Timings.CasesMS = m.bootMS, m.casesMS
	p := m.parser
	switch m.end {
	case endDone:
		res.Status = Completed
	case endExited:
		if p.Done {
			res.Status = Completed // the done record came with the last words
			break
		}
		res.Status = NoDone
		res.StatusDetail = fmt.Sprintf("the VM ended before the agent's done record (QEMU: %v, shutdown reason %q)", m.exitErr, m.shutdownReason)
		if m.shutdownReason == "guest-reset" {
			res.StatusDetail += "; with panic=-1 a guest reset means the kernel panicked"
		}
	case endStall:
		if !m.booted {
			res.Status = BootTimeout
			res.StatusDetail = fmt.Sprintf("no sign of life from the guest agent within %s", m.firstWait())
			if m.life > 0 {
				kvmFailure = fmt.Sprintf("the guest showed no sign of life within %s under KVM", m.firstWait())
			}
		} else {
			res.Status = CaseTimeout
			res.StatusDetail = fmt.Sprintf("no result for %s after case %d of %d", m.caseGrace(), len(p.Cases), p.Plan)
		}
	case endRunDeadline:
		res.Status, res.StatusDetail = RunTimeout, fmt.Sprintf("the run exceeded %s", m.to.Run)
	case endCancelled:
		res.Status = interruption(m.ctxErr)
		res.StatusDetail = fmt.Sprintf("stopped after %d of %d cases: %v", len(p.Cases), max(p.Plan, m.selected), m.cause)
	case endStopped:
		res.Status, res.StoppedAt = Completed, m.stoppedAt
		res.StatusDetail = fmt.Sprintf("stopped at the first failing case, %s, after %d of %d cases (StopOnFailure)", m.stoppedAt, len(p.Cases), max(p.Plan, m.selected))
	case endInternalError:
		res.Status = QEMUFailed
		res.StatusDetail = "QEMU stopped the VM with an internal error: " + qemuComplaint(stderr)
		if m.kvm {
			kvmFailure = res.StatusDetail
		}
	default:
		panic("run: monitor concluded before the run ended")
	}
	res.Guest = p.Info
	res.Cases = p.Cases
	classifyCrash(res, console, m.panicked)
	return kvmFailure
}

// microvmFailure says why a guest on trial on microvm is to be booted
// again on pc, after conclude filled res (stderr is what QEMU printed):
// it never reached the agent, because it showed no sign of life in time,
// its QEMU ended (a panic, or a QEMU that has no microvm) or QEMU stopped
// it with an internal error. A guest that reached the agent is never
// retried, whatever happened next (a crash, failing cases): microvm did
// its part, and the kernel's failure is the run's result. Nor is a run
// that was stopped (interrupted, the run's deadline) before the agent.
func (m *monitor) microvmFailure(res *Result, stderr string) string {
	if m.trial == 0 || m.booted {
		return ""
	}
	switch m.end {
	case endStall:
		return fmt.Sprintf("on microvm the kernel did not reach the guest agent within %s", m.firstWait())
	case endExited, endInternalError:
		why := "on microvm the VM ended before the guest agent's first words (" + string(res.Status) + ": " + res.StatusDetail + ")"
		if m.end == endExited && strings.TrimSpace(stderr) != "" {
			why += ": " + qemuComplaint(stderr)
		}
		return why
	}
	return ""
}

// classifyCrash records the kernel report the console holds, and calls
// the run crashed when the kernel did not survive it (a fatal report, or
// a panic QEMU's pvpanic reported).
func classifyCrash(res *Result, console string, panicked bool) {
	crash := findCrash(console)
	if crash != nil {
		res.Crash, res.CrashTitle = crash.Excerpt, crash.Title
	}
	if res.CrashTitle == "" {
		// A report the kernel survived is printed below the quiet
		// console's level: the agent, reading the kernel log, charged it
		// to a case.
		for _, c := range res.Cases {
			if t := c.KernelReport(); t != "" {
				res.CrashTitle = t
				break
			}
		}
	}
	if (crash != nil && crash.Fatal) || panicked {
		res.Status = Crashed
		if res.CrashTitle == "" {
			res.CrashTitle = "kernel panic (reported by pvpanic)"
		}
		if res.StatusDetail == "" {
			res.StatusDetail = res.CrashTitle
		} else {
			res.StatusDetail = res.CrashTitle + ": " + res.StatusDetail
		}
	}
}

// startFailed is the status of a run whose QEMU did not start: QEMU
// failed, unless the run's context ended meanwhile (ctxErr), which is an
// interruption.
func startFailed(err, ctxErr error) (Status, string) {
	if ctxErr != nil {
		return interruption(ctxErr), err.Error()
	}
	return QEMUFailed, err.Error()
}

// interruption is the status of a run whose context ended with ctxErr:
// the whole-run deadline of a caller, or a signal.
func interruption(ctxErr error) Status {
	if errors.Is(ctxErr, context.DeadlineExceeded) {
		return RunTimeout
	}
	return Interrupted
}

// qemuComplaint is the first lines of what QEMU printed, on one line.
func qemuComplaint(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) > 3 {
		lines = lines[:3]
	}
	if len(lines) == 0 || lines[0] == "" {
		return "(QEMU printed nothing)"
	}
	return strings.Join(lines, " | ")
}
