//go:build linux

package matrix

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
	"github.com/vmtest/vmtest/internal/result"
)

// T is a case body's handle: it makes clone3 calls, picks PIDs and records
// the verdict. A body calls Check exactly once with its final expectation;
// Fatalf ends the case as an error (the setup failed, so nothing was
// learned about the kernel).
type T struct {
	// PidMax is /proc/sys/kernel/pid_max, read at run time.
	PidMax int
	// Depth is the PID namespace level the body runs at.
	Depth int
	// Slot is the agent worker running the case; each worker picks free
	// PIDs from its own part of the range, so parallel cases never race
	// for the same PID.
	Slot int

	// px, when set, is the process the body's calls come from: a proxy
	// inside the case's namespaces and credentials. Without one the body
	// calls from its own locked thread.
	px *clone3.Proxy

	res      result.Case
	decided  bool
	poisoned bool
	// below is how many PID namespace levels below the caller its
	// children land without CLONE_NEWPID: 1 after unshare(CLONE_NEWPID),
	// more after a setns into a descendant.
	below int
	// inconsistent, when set, fails the case whatever it checks: the
	// kernel's answers disagreed with each other (clone3's return value
	// and the child's own NSpid).
	inconsistent string
	cleanup      []func() // run when the body ends, last first
	ownPx        bool     // px was made by ownProxy, not by the runner's setup
	proxyTimeout time.Duration
	used         map[int]bool
	nextFree     int
}

// ProxyTimeout is how long one call of the body's proxies may take.
func (t *T) ProxyTimeout() time.Duration { return t.proxyTimeout }

// startProxy starts a proxy of the body's own (see clone3.StartProxy), with
// the case's proxy timeout.
func (t *T) startProxy(flags uint64) (*clone3.Proxy, error) {
	return clone3.StartProxy(flags, t.proxyTimeout)
}

// errFatal unwinds a body after Fatalf.
var errFatal = errors.New("case aborted")

// NewT prepares a T for case c running at the given depth in worker slot.
// proxyTimeout bounds each call of the proxies the body starts itself
// (clone3.StartProxy).
func NewT(c Case, depth, slot int, proxyTimeout time.Duration) (*T, error) {
	pm, err := pidMax()
	if err != nil {
		return nil, err
	}
	return &T{PidMax: pm, Depth: depth, Slot: slot, res: result.Case{ID: c.ID, Group: c.Group, Rule: c.Rule}, used: map[int]bool{}, proxyTimeout: proxyTimeout}, nil
}

// pidMax reads pid_max once per process: nothing in the guest changes it.
var pidMax = sync.OnceValues(clone3.PidMax)

// Poisoned reports whether the body changed its own thread in a way that
// must not reach another case (its PID namespace for children), so that
// the thread has to be retired rather than reused.
func (t *T) Poisoned() bool { return t.poisoned }

// WithProxy makes t's calls come from px.
func (t *T) WithProxy(px *clone3.Proxy) { t.px = px }

// Sys is the system-call route of the body: its proxy or its own thread.
func (t *T) Sys() clone3.Sys {
	if t.px != nil {
		return t.px.Syscall
	}
	return clone3.Direct
}

// wait waits for a child of the body's calling process.
func (t *T) wait(pid int, info *unix.Siginfo, options int) error {
	if t.px != nil {
		return t.px.Wait(pid, info, options)
	}
	for {
		err := unix.Waitid(unix.P_PID, pid, info, options, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

// MaxSlots is the number of worker slots the PID range is divided into.
const MaxSlots = 4

// RunBody runs c.Run under t and returns the recorded result. A panic in
// the body is the case's error, never the agent's.
func RunBody(c Case, t *T) (res result.Case) {
	start := time.Now()
	defer func() {
		for i := len(t.cleanup) - 1; i >= 0; i-- {
			t.cleanup[i]()
		}
		if r := recover(); r != nil && r != errFatal {
			t.res.Outcome = result.Error
			t.res.Reason = fmt.Sprintf("case body panicked: %v", r)
		}
		if !t.decided && t.res.Outcome == "" {
			t.res.Outcome = result.Error
			t.res.Reason = "case body recorded no verdict"
		}
		t.res.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		res = t.res
	}()
	c.Run(t)
	return
}

// Skipf ends the case as skipped: this runner cannot build what the case
// needs (the kernel was not asked anything that decides it).
func (t *T) Skipf(format string, args ...any) {
	t.res.Outcome = result.Skip
	t.res.Reason = fmt.Sprintf(format, args...)
	t.decided = true
	panic(errFatal)
}

// Fatalf ends the case with outcome error.
func (t *T) Fatalf(format string, args ...any) {
	t.res.Outcome = result.Error
	t.res.Reason = fmt.Sprintf(format, args...)
	t.decided = true
	panic(errFatal)
}

// Infof attaches information that is reported but never judged.
func (t *T) Infof(format string, args ...any) {
	if t.res.Info != "" {
		t.res.Info += "; "
	}
	t.res.Info += fmt.Sprintf(format, args...)
}

// Check records the expectation and the observation and decides the case.
func (t *T) Check(want, got result.Answer) {
	t.res.Expected, t.res.Observed = &want, &got
	t.decided = true
	if t.inconsistent != "" {
		t.res.Outcome, t.res.Reason = result.Fail, t.inconsistent
		return
	}
	if want.Matches(got) {
		t.res.Outcome = result.Pass
		return
	}
	t.res.Outcome = result.Fail
	t.res.Reason = fmt.Sprintf("expected %s, got %s", want, got)
}

// Fail decides the case as failed for a reason Answer cannot express.
func (t *T) Fail(want, got result.Answer, reason string) {
	t.res.Expected, t.res.Observed = &want, &got
	t.res.Outcome = result.Fail
	t.res.Reason = reason
	t.decided = true
}

// Require checks an intermediate step of a multi-step case: when got does
// not match want, the case fails right there with the step named.
func (t *T) Require(step string, want, got result.Answer) {
	if want.Matches(got) && t.inconsistent == "" {
		return
	}
	t.res.Expected, t.res.Observed = &want, &got
	t.res.Outcome = result.Fail
	t.res.Reason = fmt.Sprintf("%s: expected %s, got %s", step, want, got)
	if t.inconsistent != "" {
		t.res.Reason = step + ": " + t.inconsistent
	}
	t.decided = true
	panic(errFatal)
}

// Free returns n distinct PIDs that are free in every PID namespace the
// body can see. They come from the upper part of the PID range, which a
// freshly booted guest does not reach, split into one band per worker
// slot, and are checked against the initial namespace's procfs, where the
// most PIDs are in use.
func (t *T) Free(n int) []int32 {
	if t.nextFree == 0 {
		band := t.PidMax / 2 / MaxSlots
		t.nextFree = t.PidMax - 2 - t.Slot*band
	}
	var out []int32
	for len(out) < n {
		p := t.nextFree
		t.nextFree--
		if p <= 300 {
			t.Fatalf("ran out of free PIDs below pid_max %d", t.PidMax)
		}
		if t.used[p] || clone3.PIDInUse(p) {
			continue
		}
		t.used[p] = true
		out = append(out, int32(p))
	}
	return out
}

// Call describes one clone3 call made by T.Clone.
type Call struct {
	Flags  uint64
	SetTID []int32
	// Size is the struct size passed; 0 means SizeVer1 and SizeZero a
	// literal 0.
	Size int
	// SetTIDPtr, when non-zero, replaces the set_tid pointer (to pass
	// invalid addresses); SetTIDSize, when non-nil, replaces the count.
	SetTIDPtr  uint64
	SetTIDSize *uint64
	// ExitSignal, when non-nil, is the child's exit_signal. By default it
	// is 0: every wait here uses __WALL, and a SIGCHLD delivered to the
	// agent for each of the matrix's children costs a Go signal handler
	// run, hundreds of microseconds under TCG, and decides nothing.
	// clone3/plain/ver0 checks SIGCHLD explicitly.
	ExitSignal *uint64
	// Tail is written after the VER2 fields (for oversized structs).
	Tail []byte
	// Cgroup sets clone_args.cgroup.
	Cgroup uint64
	// KeepZombie leaves the child unreaped; the caller reaps it with Reap.
	KeepZombie bool
	// NoPidFD leaves CLONE_PIDFD out, for cases whose expected error must
	// not also be explained by CLONE_PIDFD (which 6.1 refuses together
	// with CLONE_THREAD).
	NoPidFD bool
	// PidFDPtr, when non-zero, replaces the address the kernel writes
	// the pidfd to (an unwritable one makes clone3 fail after alloc_pid).
	PidFDPtr uint64
	// ParentTIDAtPidFD adds CLONE_PARENT_SETTID with parent_tid at the
	// pidfd's address.
	ParentTIDAtPidFD bool
	// Stack and StackSize set the child's stack fields.
	Stack, StackSize uint64
	// ExitSignalNote (a child of the initial namespace only) reports in
	// the answer's note the child's exit_signal from /proc/PID/stat and
	// which waits see it: one without __WALL finds only SIGCHLD children,
	// one with __WCLONE only the others.
	ExitSignalNote bool
	// CgroupNote (a child of the initial namespace only) reports in the
	// answer's note the child's cgroup2 line of /proc/PID/cgroup.
	CgroupNote bool
}

// SizeZero asks Clone for a struct size of literally 0.
const SizeZero = -1

// Clone makes the call and returns the kernel's answer. CLONE_PIDFD is
// always added so the child can be found from any namespace depth: the
// guest's /proc is the initial namespace's procfs, and the pidfd's fdinfo
// gives the child's PID at every level from 0 down. A child exits at once;
// Clone reads its NSpid from /proc/PID/status while it is a zombie (cross-
// checked with the fdinfo) and then reaps it, unless KeepZombie is set, so
// the PIDs are free again when Clone returns.
func (t *T) Clone(c Call) result.Answer {
	// Heap copies: a proxy reads and writes them while this goroutine waits.
	pidfd := clone3.Heap[int32]()
	*pidfd = -1
	setTID := clone3.HeapInt32s(c.SetTID)
	a := clone3.Args{
		Flags:      c.Flags | unix.CLONE_PIDFD | clone3.ChildFlags,
		PidFD:      uint64(uintptr(unsafe.Pointer(pidfd))),
		SetTID:     clone3.PtrTo(setTID),
		SetTIDSize: uint64(len(setTID)),
		Cgroup:     c.Cgroup,
	}
	if c.SetTIDPtr != 0 {
		a.SetTID = c.SetTIDPtr
	}
	if c.SetTIDSize != nil {
		a.SetTIDSize = *c.SetTIDSize
	}
	if c.PidFDPtr != 0 {
		a.PidFD = c.PidFDPtr
	}
	if c.ParentTIDAtPidFD {
		a.Flags |= unix.CLONE_PARENT_SETTID
		a.ParentTID = a.PidFD
	}
	a.Stack, a.StackSize = c.Stack, c.StackSize
	if c.ExitSignal != nil {
		a.ExitSignal = *c.ExitSignal
	}
	size := c.Size
	switch size {
	case 0:
		size = clone3.SizeVer1
	case SizeZero:
		size = 0
	}
	if size < clone3.SizeVer0 || c.NoPidFD {
		// The kernel rejects the struct before looking at it; no pidfd.
		a.Flags &^= unix.CLONE_PIDFD
	}
	buf := clone3.Buffer(&a, size, c.Tail)
	var pid int
	var errno unix.Errno
	if t.px != nil {
		pid, errno = t.px.Clone3(unsafe.Pointer(&buf[0]), uintptr(size), nil)
	} else {
		pid, errno = clone3.Raw(unsafe.Pointer(&buf[0]), uintptr(size))
	}
	runtime.KeepAlive(buf)
	runtime.KeepAlive(setTID)
	if errno == clone3.ErrnoProxy {
		t.Fatalf("the case's proxy failed during clone3 (killed or stuck)")
	}
	if errno != 0 {
		return result.Answer{Errno: ErrnoName(errno)}
	}
	if *pidfd < 0 {
		// Created without a pidfd (NoPidFD).
		if t.px == nil {
			child, err := clone3.Reap(pid)
			if err != nil {
				t.Fatalf("inspect child %d: %v", pid, err)
			}
			return result.Answer{PID: pid, NSpid: reversed(child.NSpid)}
		}
		// From a proxy only the PID is known: /proc/PID would name another
		// namespace's process.
		info := clone3.Heap[unix.Siginfo]()
		if err := t.wait(pid, info, unix.WEXITED|unix.WALL); err != nil {
			t.Fatalf("reap child %d: %v", pid, err)
		}
		return result.Answer{PID: pid, NSpid: []int{pid}}
	}
	defer unix.Close(int(*pidfd))
	if t.Depth == 0 && t.below == 0 && c.Flags&unix.CLONE_NEWPID == 0 {
		// A child of the initial PID namespace alone. Its NSpid chain is
		// the kernel's, not clone3's return value, as at every other
		// depth, read from /proc: from its pidfd's fdinfo, which under
		// TCG costs a fraction of /proc/PID/status (whose directory the
		// kernel must first make for the new PID).
		info := clone3.Heap[unix.Siginfo]()
		if err := t.wait(pid, info, unix.WEXITED|unix.WALL|unix.WNOWAIT); err != nil {
			t.Fatalf("wait for child %d: %v", pid, err)
		}
		ns, err := clone3.PidfdNSpid(int(*pidfd))
		if err != nil {
			t.Fatalf("inspect child %d: %v", pid, err)
		}
		ans := result.Answer{PID: pid, NSpid: reversed(ns)}
		if len(ns) != 1 || ns[0] != pid {
			t.inconsistent = fmt.Sprintf("clone3 returned %d, but the child's NSpid in the initial namespace is %v", pid, ns)
		}
		if c.ExitSignalNote {
			ans.Note = t.exitSignalNote(pid)
		}
		if c.CgroupNote {
			ans.Note = t.cgroupNote(pid)
		}
		if !c.KeepZombie {
			if err := t.wait(pid, info, unix.WEXITED|unix.WALL); err != nil {
				t.Fatalf("reap child %d: %v", pid, err)
			}
		}
		return ans
	}
	child, err := clone3.ReapPidfdHint(t.wait, pid, int(*pidfd), t.hint(c), !c.KeepZombie)
	if err != nil {
		t.Fatalf("inspect child %d: %v", pid, err)
	}
	return result.Answer{PID: pid, NSpid: reversed(child.NSpid)}
}

// hint says where a successful call c put its child when set_tid chose
// the PID at every level, the global one included: the child's status can
// then be read without first asking its pidfd for its global PID.
func (t *T) hint(c Call) clone3.Hint {
	levels := t.Depth + 1 + t.below
	if c.Flags&unix.CLONE_NEWPID != 0 {
		levels++
	}
	if c.SetTIDPtr != 0 || c.SetTIDSize != nil || len(c.SetTID) != levels {
		return clone3.Hint{}
	}
	return clone3.Hint{GPID: int(c.SetTID[levels-1]), Level: t.Depth, Levels: levels}
}

// exitSignalNote describes the exit signal of pid, an exited child of the
// initial namespace not yet reaped: the value in /proc/PID/stat (field
// 38) and whether waits without __WALL see it, with and without
// __WCLONE. A wait without __WALL selects children by their exit signal,
// so this is the signal as the parent experiences it.
func (t *T) exitSignalNote(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/stat", clone3.ProcRoot(), pid))
	if err != nil {
		t.Fatalf("read stat of child %d: %v", pid, err)
	}
	sig := "?"
	if i := bytes.LastIndexByte(b, ')'); i >= 0 {
		if f := strings.Fields(string(b[i+1:])); len(f) > 35 {
			sig = f[35] // field 38; fields after the command start at 3
		}
	}
	seen := func(opts int) string {
		info := clone3.Heap[unix.Siginfo]()
		err := t.wait(pid, info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT|opts)
		switch {
		case err == unix.ECHILD:
			return "no"
		case err != nil:
			return err.Error()
		case siginfoPID(info) == int32(pid):
			return "yes"
		}
		return "not yet exited"
	}
	return fmt.Sprintf("exit_signal %s; plain wait sees it: %s; __WCLONE wait: %s", sig, seen(0), seen(unix.WCLONE))
}

// Via makes f's calls come from px, a process at depth whose children
// land below levels deeper, and restores t's own caller afterwards.
func (t *T) Via(px *clone3.Proxy, depth, below int, f func()) {
	opx, odepth, obelow := t.px, t.Depth, t.below
	t.px, t.Depth, t.below = px, depth, below
	defer func() { t.px, t.Depth, t.below = opx, odepth, obelow }()
	f()
}

// Reap reaps a child left by a KeepZombie call.
func (t *T) Reap(pid int) {
	if err := t.wait(pid, clone3.Heap[unix.Siginfo](), unix.WEXITED|unix.WALL); err != nil {
		t.Fatalf("reap %d: %v", pid, err)
	}
}

// reversed turns an NSpid line (outermost namespace first) into set_tid
// order (innermost first).
func reversed(nspid []int) []int {
	out := slices.Clone(nspid)
	slices.Reverse(out)
	return out
}

// Want builds the expected answer for a successful call made at the body's
// depth: the child lives newPID levels deeper (0 or 1), set_tid gives the
// innermost PIDs and the kernel picks the rest (0 = any).
func (t *T) Want(setTID []int32, newPID bool) result.Answer {
	levels := t.Depth + 1
	if newPID {
		levels++
	}
	ns := make([]int, levels)
	for i := range setTID {
		if i < levels {
			ns[i] = int(setTID[i])
		}
	}
	callerIdx := 0
	if newPID {
		callerIdx = 1
	}
	return result.Answer{PID: ns[callerIdx], NSpid: ns}
}

// Errno is the expectation "the call fails with e".
func Errno(e unix.Errno) result.Answer { return result.Answer{Errno: ErrnoName(e)} }

// ErrnoName returns the symbolic name of e ("EINVAL"), or "errno N".
func ErrnoName(e unix.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return "errno " + strconv.Itoa(int(e))
}

// Self returns the PID of the process the body's calls come from, in its
// own namespace: its proxy's, or the agent's.
func (t *T) Self() int {
	pid, e := t.Sys()(unix.SYS_GETPID)
	if e != 0 {
		t.Fatalf("getpid: %v", e)
	}
	return int(pid)
}

// U64 returns a pointer to v, for Call's optional fields.
func U64(v uint64) *uint64 { return &v }

// Unmapped returns the address of an inaccessible (PROT_NONE) page: for
// arrays that start on it and addresses the kernel cannot write. One page
// serves every case of the process; mapping it costs two system calls and
// nothing ever reads or writes it.
func (t *T) Unmapped() uint64 {
	addr, err := unmappedPage()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return addr
}

var unmappedPage = sync.OnceValues(func() (uint64, error) {
	m, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return 0, fmt.Errorf("mmap PROT_NONE page: %w", err)
	}
	return uint64(uintptr(unsafe.Pointer(&m[0]))), nil
})

// GuardedArray maps two pages, copies vals so that they end exactly at the
// boundary between a readable page and an inaccessible one, and returns
// the address of the first value. Reading len(vals)+extra values from it
// crosses into the inaccessible page. The mapping is never unmapped: the
// case process is short-lived.
func (t *T) GuardedArray(vals []int32) uint64 {
	page := os.Getpagesize()
	m, err := unix.Mmap(-1, 0, 2*page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	if err := unix.Mprotect(m[page:], unix.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	off := page - 4*len(vals)
	for i, v := range vals {
		*(*int32)(unsafe.Pointer(&m[off+4*i])) = v
	}
	return uint64(uintptr(unsafe.Pointer(&m[off])))
}

// siginfoPID is si_pid of a waitid answer: the first word after the three
// ints and the padding x/sys/unix names.
func siginfoPID(info *unix.Siginfo) int32 {
	return *(*int32)(unsafe.Add(unsafe.Pointer(info), 16))
}
