package matrix

import (
	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
)

// Plain clone3 cases touch no set_tid field. They must pass on every kernel
// with clone3, including one whose set_tid was withdrawn, which is what
// makes "every set_tid case unsupported, plain cases pass" a meaningful
// verdict rather than "nothing ran".
func init() {
	register("plain",
		Case{
			ID: "clone3/plain/ver0", Rule: "a VER0 (64-byte) struct creates a child",
			Expect: "success", Needs: Clone3,
			Run: func(t *T) { t.Check(anySuccess(), t.Clone(Call{Size: clone3.SizeVer0})) },
		},
		Case{
			ID: "clone3/plain/ver1-zero-set_tid", Rule: "VER1 with set_tid fields zero is plain clone3",
			Expect: "success", Needs: Clone3,
			Run: func(t *T) { t.Check(anySuccess(), t.Clone(Call{Size: clone3.SizeVer1})) },
		},
		Case{
			ID: "clone3/plain/size-below-ver0", Rule: "size < CLONE_ARGS_SIZE_VER0 → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{Size: clone3.SizeVer0 - 8})) },
		},
		Case{
			ID: "clone3/plain/size-zero", Rule: "size 0 → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{Size: SizeZero})) },
		},
		Case{
			ID: "clone3/plain/size-page-zero-tail", Rule: "size == PAGE_SIZE with a zero tail is accepted",
			Expect: "success", Needs: Clone3,
			Run: func(t *T) { t.Check(anySuccess(), t.Clone(Call{Size: pageSize()})) },
		},
		Case{
			ID: "clone3/plain/size-above-page", Rule: "size > PAGE_SIZE → E2BIG",
			Expect: "E2BIG", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.E2BIG), t.Clone(Call{Size: pageSize() + 8})) },
		},
		Case{
			ID: "clone3/plain/nonzero-unknown-tail", Rule: "non-zero bytes beyond the known struct → E2BIG",
			Expect: "E2BIG", Needs: Clone3,
			Run: func(t *T) {
				t.Check(Errno(unix.E2BIG), t.Clone(Call{Size: clone3.SizeVer2 + 16, Tail: []byte{0, 0, 0, 0, 0, 0, 0, 0, 1}}))
			},
		},
		Case{
			ID: "clone3/plain/exit-signal-invalid", Rule: "exit_signal not a valid signal → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{ExitSignal: U64(65)})) },
		},
		Case{
			ID: "clone3/plain/exit-signal-high-bits", Rule: "exit_signal with bits above CSIGNAL → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{ExitSignal: U64(1<<32 | uint64(unix.SIGCHLD))})) },
		},
		Case{
			ID: "clone3/plain/thread-without-sighand", Rule: "CLONE_THREAD without CLONE_SIGHAND → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_THREAD, ExitSignal: U64(0), NoPidFD: true}))
			},
		},
		Case{
			ID: "clone3/plain/exit-signal-zero", Rule: "a child with exit_signal 0 (no signal to the parent) is created",
			Expect: "success", Needs: Clone3,
			Run: func(t *T) { t.Check(anySuccess(), t.Clone(Call{ExitSignal: U64(0)})) },
		},
		Case{
			ID: "clone3/plain/clear-sighand-with-sighand", Rule: "CLONE_CLEAR_SIGHAND together with CLONE_SIGHAND → EINVAL",
			Expect: "EINVAL", Needs: Clone3,
			Run: func(t *T) {
				// CLONE_VM makes CLONE_SIGHAND itself valid, so the only
				// reason left to refuse is the combination under test.
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_CLEAR_SIGHAND | unix.CLONE_SIGHAND | unix.CLONE_VM}))
			},
		},
		Case{
			ID: "clone3/plain/newpid", Rule: "CLONE_NEWPID makes the child PID 1 of a new namespace",
			Expect: "pid *, nspid [1 *]", Needs: Clone3 | PIDNS,
			Run: func(t *T) {
				t.Check(t.Want([]int32{1}, true), t.Clone(Call{Flags: unix.CLONE_NEWPID}))
			},
		},
	)
}
