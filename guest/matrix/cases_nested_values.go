//go:build linux

package matrix

import (
	"golang.org/x/sys/unix"
)

// Nested cases with upstream's own small PIDs and the same PID at several
// levels. Below level 0 every namespace is the case's own, so small PIDs
// there are free whatever runs beside it; level 0's PIDs still come from
// the worker's band.
func nestedValueCases() []Case {
	return []Case{
		{
			ID: "set_tid/nested/upstream-43-freed-after-einval", Rule: "depth 1: [43, -1] → EINVAL, then [43, F] gets 43 (upstream L300/L304: 43 was released)",
			Expect: "EINVAL; then pid 43, nspid [43 F]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				p := t.small(43)
				t.Require("[43, -1]", Errno(unix.EINVAL), t.Clone(Call{SetTID: []int32{p, -1}}))
				tid := append([]int32{p}, t.Free(1)...)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/upstream-2-inner-only", Rule: "depth 1: [2] gets PID 2 in the caller's namespace (upstream L308)",
			Expect: "pid 2, nspid [2 *]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				tid := []int32{t.small(2)}
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/upstream-42-newpid", Rule: "depth 1 + CLONE_NEWPID: [1, 42, F] gets 42 (upstream L330)",
			Expect: "pid 42, nspid [1 42 F]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				tid := append([]int32{1, t.small(42)}, t.Free(1)...)
				t.Check(t.Want(tid, true), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/small-pids-depth-2", Rule: "small PIDs (2 and 299, below RESERVED_PIDS) can be chosen at nested levels",
			Expect: "pid 2, nspid [2 299 F]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(2)},
			Run: func(t *T) {
				tid := append([]int32{t.small(2), 299}, t.Free(1)...)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/same-pid-two-levels", Rule: "the same PID at two nested levels: each level has its own PID map",
			Expect: "pid 250, nspid [250 250 F]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(2)},
			Run: func(t *T) {
				// 250: far above the TIDs of the exec runner's Go processes,
				// which hold the low numbers of the middle level there.
				v := t.small(250)
				tid := append([]int32{v, v}, t.Free(1)...)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/same-pid-every-level", Rule: "depth 1: [F, F] gives the child PID F in both namespaces",
			Expect: "pid F, nspid [F F]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				f := t.Free(1)[0]
				tid := []int32{f, f}
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "clone3/nested/parent-from-ns-init", Rule: "CLONE_PARENT from a namespace's init → EINVAL (an init may not make siblings)",
			Expect: "EINVAL", Needs: Clone3 | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_PARENT})) },
		},
	}
}

// small returns v, a small PID the case wants at a nested level, where the
// proxy runner's namespaces hold only their init. The exec runner's case
// processes are Go programs whose threads take the low TIDs of their
// namespace: there the next PID from v up that no task holds stands in.
func (t *T) small(v int32) int32 {
	if t.Depth == 0 || (t.px != nil && !t.ownPx) {
		return v
	}
	for unix.Kill(int(v), 0) != unix.ESRCH {
		v++
	}
	return v
}
