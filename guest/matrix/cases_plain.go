//go:build linux

package matrix

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
	"github.com/vmtest/vmtest/internal/result"
)

// Plain clone3 cases touch no set_tid field. They must pass on every kernel
// with clone3, including one whose set_tid was withdrawn, which is what
// makes "every set_tid case unsupported, plain cases pass" a meaningful
// verdict rather than "nothing ran".
func plainCases() []Case {
	return []Case{
		{
			ID: "clone3/plain/ver0", Rule: "a VER0 (64-byte) struct with exit_signal SIGCHLD creates a child that exits with SIGCHLD",
			Expect: "success, exit_signal 17, seen by a plain wait", Needs: Clone3,
			Run: func(t *T) {
				want := anySuccess()
				want.Note = exitSignalWant(unix.SIGCHLD)
				t.Check(want, t.Clone(Call{Size: clone3.SizeVer0, ExitSignal: U64(uint64(unix.SIGCHLD)), ExitSignalNote: true}))
			},
		},
		{
			ID: "clone3/plain/ver1-zero-set_tid", Rule: "VER1 with set_tid fields zero is plain clone3",
			Expect: "success", Needs: Clone3,
			Run: func(t *T) { t.Check(anySuccess(), t.Clone(Call{Size: clone3.SizeVer1})) },
		},
		{
			ID: "clone3/plain/size-below-ver0", Rule: "size < CLONE_ARGS_SIZE_VER0 → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{Size: clone3.SizeVer0 - 8})) },
		},
		{
			ID: "clone3/plain/size-zero", Rule: "size 0 → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{Size: SizeZero})) },
		},
		{
			ID: "clone3/plain/size-page-zero-tail", Rule: "size == PAGE_SIZE with a zero tail is accepted",
			Expect: "success", Needs: Clone3,
			Run: func(t *T) { t.Check(anySuccess(), t.Clone(Call{Size: pageSize()})) },
		},
		{
			ID: "clone3/plain/size-above-page", Rule: "size > PAGE_SIZE → E2BIG",
			Expect: "E2BIG", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.E2BIG), t.Clone(Call{Size: pageSize() + 8})) },
		},
		{
			ID: "clone3/plain/nonzero-unknown-tail", Rule: "non-zero bytes beyond the known struct → E2BIG",
			Expect: "E2BIG", Needs: Clone3,
			Run: func(t *T) {
				t.Check(Errno(unix.E2BIG), t.Clone(Call{Size: clone3.SizeVer2 + 16, Tail: []byte{0, 0, 0, 0, 0, 0, 0, 0, 1}}))
			},
		},
		{
			ID: "clone3/plain/exit-signal-invalid", Rule: "exit_signal not a valid signal → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{ExitSignal: U64(65)})) },
		},
		{
			ID: "clone3/plain/exit-signal-high-bits", Rule: "exit_signal with bits above CSIGNAL → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{ExitSignal: U64(1<<32 | uint64(unix.SIGCHLD))})) },
		},
		{
			ID: "clone3/plain/exit-signal-bit-8", Rule: "exit_signal 0x100, just above CSIGNAL → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{ExitSignal: U64(0x100)})) },
		},
		{
			ID: "clone3/plain/exit-signal-bit-31", Rule: "exit_signal 0x80000000 (negative as an int) → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{ExitSignal: U64(0x80000000)})) },
		},
		{
			ID: "clone3/plain/thread-without-sighand", Rule: "CLONE_THREAD without CLONE_SIGHAND → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_THREAD, ExitSignal: U64(0), NoPidFD: true}))
			},
		},
		{
			ID: "clone3/plain/exit-signal-zero", Rule: "a child with exit_signal 0 (no signal to the parent) is created and waited for as a clone child",
			Expect: "success, exit_signal 0, seen by a __WCLONE wait only", Needs: Clone3,
			Run: func(t *T) {
				want := anySuccess()
				want.Note = exitSignalWant(0)
				t.Check(want, t.Clone(Call{ExitSignal: U64(0), ExitSignalNote: true}))
			},
		},
		{
			ID: "clone3/plain/clear-sighand-with-sighand", Rule: "CLONE_CLEAR_SIGHAND together with CLONE_SIGHAND → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) {
				// CLONE_VM makes CLONE_SIGHAND itself valid, so the only
				// reason left to refuse is the combination under test.
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_CLEAR_SIGHAND | unix.CLONE_SIGHAND | unix.CLONE_VM}))
			},
		},
		{
			ID: "clone3/plain/clear-sighand-resets-handlers", Rule: "CLONE_CLEAR_SIGHAND gives the child default handlers where the parent catches signals",
			Expect: "SigCgt 0, a plain child the parent's", Needs: Clone3 | ClearSighand,
			Run: func(t *T) {
				t.Check(result.Answer{Note: "with CLONE_CLEAR_SIGHAND: SigCgt 0000000000000000; without: the parent's"}, clearSighandAnswer(t))
			},
		},
		{
			ID: "clone3/plain/newpid-ver0", Rule: "CLONE_NEWPID with a VER0 struct: PID 1 of a new namespace",
			Expect: "pid *, nspid [1 *]", Needs: Clone3 | PIDNS,
			Run: func(t *T) {
				t.Check(t.Want([]int32{1}, true), t.Clone(Call{Flags: unix.CLONE_NEWPID, Size: clone3.SizeVer0}))
			},
		},
		{
			ID: "clone3/plain/newpid-size-below-ver0", Rule: "CLONE_NEWPID does not change the size check: size < VER0 → EINVAL",
			Expect: "EINVAL", Needs: Clone3 | PIDNS,
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_NEWPID, Size: clone3.SizeVer0 - 8}))
			},
		},
		{
			ID: "clone3/plain/newpid-size-above-page", Rule: "CLONE_NEWPID does not change the size check: size > PAGE_SIZE → E2BIG",
			Expect: "E2BIG", Needs: Clone3 | PIDNS,
			Run: func(t *T) {
				t.Check(Errno(unix.E2BIG), t.Clone(Call{Flags: unix.CLONE_NEWPID, Size: pageSize() + 8}))
			},
		},
		{
			ID: "clone3/plain/unknown-flag", Rule: "a flag bit clone3 does not know (bit 35) → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: 1 << 35})) },
		},
		{
			ID: "clone3/plain/csignal-in-flags", Rule: "CSIGNAL bits in flags (SIGCHLD, as legacy clone took it) → EINVAL: clone3 has exit_signal",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: uint64(unix.SIGCHLD)})) },
		},
		{
			ID: "clone3/plain/detached", Rule: "CLONE_DETACHED → EINVAL (the bit is reserved in clone3)",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_DETACHED})) },
		},
		{
			ID: "clone3/plain/parent-with-exit-signal", Rule: "CLONE_PARENT with an exit_signal → EINVAL (the parent's parent chooses the signal)",
			Expect: "EINVAL", Needs: Clone3, Setup: Setup{OwnProcess: true},
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_PARENT, ExitSignal: U64(uint64(unix.SIGCHLD))}))
			},
		},
		{
			ID: "clone3/plain/stack-without-size", Rule: "a stack with stack_size 0 → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{Stack: 0x10000000})) },
		},
		{
			ID: "clone3/plain/size-without-stack", Rule: "stack_size without a stack → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{StackSize: 4096})) },
		},
		{
			ID: "clone3/plain/into-cgroup-ver1", Rule: "CLONE_INTO_CGROUP with a struct too small to hold cgroup (VER1) → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_INTO_CGROUP, Size: clone3.SizeVer1}))
			},
		},
		{
			ID: "clone3/plain/into-cgroup-above-int-max", Rule: "CLONE_INTO_CGROUP with cgroup > INT_MAX → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_INTO_CGROUP, Size: clone3.SizeVer2, Cgroup: 1 << 31}))
			},
		},
		{
			// The boundary of the check above, from the side it lets
			// through: INT_MAX is a valid descriptor number, which no
			// process has open, so the kernel goes on to look it up
			// (cgroup_css_set_fork) and says EBADF. A range check off by
			// one (>= INT_MAX) answers EINVAL instead; vmtest mutate
			// found that no case told the two apart.
			ID: "clone3/plain/into-cgroup-int-max", Rule: "CLONE_INTO_CGROUP with cgroup == INT_MAX passes the range check and fails the descriptor lookup → EBADF",
			Expect: "EBADF", Needs: Clone3 | Cgroup2,
			Run: func(t *T) {
				t.Check(Errno(unix.EBADF), t.Clone(Call{Flags: unix.CLONE_INTO_CGROUP, Size: clone3.SizeVer2, Cgroup: 1<<31 - 1}))
			},
		},
		{
			ID: "clone3/plain/pidfd-parent-tid-same-address", Rule: "CLONE_PIDFD and CLONE_PARENT_SETTID writing to one address → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{ParentTIDAtPidFD: true})) },
		},
		{
			ID: "clone3/plain/newpid", Rule: "CLONE_NEWPID makes the child PID 1 of a new namespace",
			Expect: "pid *, nspid [1 *]", Needs: Clone3 | PIDNS,
			Run: func(t *T) {
				t.Check(t.Want([]int32{1}, true), t.Clone(Call{Flags: unix.CLONE_NEWPID}))
			},
		},
	}
}

// clearSighandAnswer creates two processes that stay alive for inspection
// (proxies: they run no Go and keep their signal dispositions), one with
// CLONE_CLEAR_SIGHAND and one without, and reports their SigCgt against the
// caller's. The Go runtime catches nearly every signal, so the plain child
// must show the same non-zero mask and the cleared one none.
func clearSighandAnswer(t *T) result.Answer {
	self, err := clone3.StatusField(os.Getpid(), "SigCgt")
	if err != nil {
		t.Fatalf("%v", err)
	}
	caught := func(flags uint64) string {
		p, err := t.startProxy(flags)
		if err != nil {
			if errors.Is(err, unix.EINVAL) {
				return "EINVAL"
			}
			t.Fatalf("create child: %v", err)
		}
		defer p.Close()
		v, err := clone3.StatusField(p.PID, "SigCgt")
		if err != nil {
			t.Fatalf("%v", err)
		}
		return v
	}
	cleared, plain := caught(unix.CLONE_CLEAR_SIGHAND), caught(0)
	if self == "0000000000000000" {
		t.Fatalf("the caller catches no signal, so clearing cannot be seen")
	}
	note := "with CLONE_CLEAR_SIGHAND: SigCgt " + cleared + "; without: "
	if plain == self {
		note += "the parent's"
	} else {
		note += plain + " (parent " + self + ")"
	}
	return result.Answer{Note: note}
}

// exitSignalWant is T.exitSignalNote's answer for a child whose exit
// signal is sig: a wait without __WALL sees SIGCHLD children only, one
// with __WCLONE the others.
func exitSignalWant(sig unix.Signal) string {
	plain, clone := "yes", "no"
	if sig != unix.SIGCHLD {
		plain, clone = "no", "yes"
	}
	return fmt.Sprintf("exit_signal %d; plain wait sees it: %s; __WCLONE wait: %s", int(sig), plain, clone)
}
