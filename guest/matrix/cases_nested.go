//go:build linux

package matrix

import (
	"golang.org/x/sys/unix"
)

// levels returns n plain nested PID namespace levels.
func levels(n int) []Level { return make([]Level, n) }

// Nested PID namespaces: set_tid[i] is the PID at the i-th level counting
// outward from the child's own; every explicit entry is checked against the
// child's NSpid chain, read from the initial namespace's /proc.
func nestedCases() []Case {
	return []Case{
		{
			ID: "set_tid/nested/newpid-init", Rule: "CLONE_NEWPID with set_tid [1] makes PID 1 of the new namespace",
			Expect: "nspid [1 *]", Needs: SetTID | PIDNS,
			Run: func(t *T) {
				tid := []int32{1}
				t.Check(t.Want(tid, true), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/newpid-both-levels", Rule: "CLONE_NEWPID with [1, F] sets the PID in the new and the caller's namespace",
			Expect: "pid F, nspid [1 F]", Needs: SetTID | PIDNS,
			Run: func(t *T) {
				tid := append([]int32{1}, t.Free(1)...)
				t.Check(t.Want(tid, true), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/newpid-not-init", Rule: "PID ≠ 1 in a new namespace without init → EINVAL",
			Expect: "EINVAL", Needs: SetTID | PIDNS,
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: t.Free(2)}))
			},
		},
		{
			ID: "set_tid/nested/newpid-pid-max", Rule: "CLONE_NEWPID with [1, pid_max]: pid_max at the caller's level, which has an init, fails the range check → EINVAL",
			Expect: "EINVAL", Needs: SetTID | PIDNS,
			Run: func(t *T) {
				// The new level gets 1, which passes every test; level 0
				// has an init, so only the range check can refuse.
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: []int32{1, int32(t.PidMax)}}))
			},
		},
		{
			ID: "set_tid/nested/newpid-pid-max-alone", Rule: "[pid_max] as the new namespace's PID → EINVAL (upstream's L243; the no-init test refuses it too)",
			Expect: "EINVAL", Needs: SetTID | PIDNS,
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: []int32{int32(t.PidMax)}}))
			},
		},
		{
			ID: "set_tid/nested/inner-pid-max", Rule: "at depth 1, whose namespace has an init, [pid_max] fails the range check → EINVAL",
			Expect: "EINVAL", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: []int32{int32(t.PidMax)}})) },
		},
		{
			ID: "set_tid/nested/inner-negative", Rule: "at depth 1, whose namespace has an init, [-1, F] fails the range check → EINVAL",
			Expect: "EINVAL", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: append([]int32{-1}, t.Free(1)...)}))
			},
		},
		{
			ID: "set_tid/nested/newpid-one-too-many", Rule: "CLONE_NEWPID from level 0 allows 2 entries; 3 → EINVAL",
			Expect: "EINVAL", Needs: SetTID | PIDNS,
			Run: func(t *T) {
				tid := append([]int32{1}, t.Free(2)...)
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/1-level-inner-only", Rule: "at depth 1 a single entry sets only the innermost PID",
			Expect: "pid F, nspid [F *]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/2-levels-explicit", Rule: "at depth 1 two entries set the PID at both levels",
			Expect: "pid F, nspid [F G]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				tid := t.Free(2)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/3-levels-explicit", Rule: "at depth 2 three entries set the PID at every level",
			Expect: "pid F, nspid [F G H]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(2)},
			Run: func(t *T) {
				tid := t.Free(3)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/3-levels-inner-two", Rule: "at depth 2 two entries set the two inner levels, the kernel picks the outer",
			Expect: "pid F, nspid [F G *]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(2)},
			Run: func(t *T) {
				tid := t.Free(2)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/3-levels-one-too-many", Rule: "at depth 2, four entries → EINVAL",
			Expect: "EINVAL", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(2)},
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: t.Free(4)})) },
		},
		{
			ID: "set_tid/nested/4-levels-newpid", Rule: "CLONE_NEWPID at depth 2 with [1, F, G, H] sets all four levels",
			Expect: "pid F, nspid [1 F G H]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(2)},
			Run: func(t *T) {
				tid := append([]int32{1}, t.Free(3)...)
				t.Check(t.Want(tid, true), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/depth-1-newpid-three-levels", Rule: "CLONE_NEWPID at depth 1 with [1, F, G] sets all three levels",
			Expect: "pid F, nspid [1 F G]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				tid := append([]int32{1}, t.Free(2)...)
				t.Check(t.Want(tid, true), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/depth-1-newpid-one-too-many", Rule: "CLONE_NEWPID at depth 1 allows 3 entries; 4 → EINVAL",
			Expect: "EINVAL", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				tid := append([]int32{1}, t.Free(3)...)
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/newpid-negative", Rule: "CLONE_NEWPID with [1, -1]: -1 at the caller's level, which has an init, fails the range check → EINVAL",
			Expect: "EINVAL", Needs: SetTID | PIDNS,
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: []int32{1, -1}}))
			},
		},
		{
			ID: "set_tid/nested/newpid-negative-alone", Rule: "[-1] as the new namespace's PID → EINVAL (upstream's L221; the no-init test refuses it too)",
			Expect: "EINVAL", Needs: SetTID | PIDNS,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: []int32{-1}})) },
		},
		{
			ID: "set_tid/nested/outer-level-taken", Rule: "a free inner PID with a taken outer PID (1 at level 0) → EEXIST",
			Expect: "EEXIST", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				tid := append(t.Free(1), 1)
				t.Check(Errno(unix.EEXIST), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/outer-level-invalid", Rule: "an invalid outer PID (-1) → EINVAL",
			Expect: "EINVAL", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				tid := append(t.Free(1), -1)
				t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/newpid-middle-invalid", Rule: "CLONE_NEWPID at depth 1 with [1, -1, F] → EINVAL",
			Expect: "EINVAL", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				tid := []int32{1, -1, t.Free(1)[0]}
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/own-ns-init-taken", Rule: "PID 1 of the caller's own namespace is taken (by the caller) → EEXIST",
			Expect: "EEXIST", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) { t.Check(Errno(unix.EEXIST), t.Clone(Call{SetTID: []int32{1}})) },
		},
		{
			ID: "set_tid/nested/unshare-then-not-init", Rule: "after unshare(CLONE_NEWPID) the first child must be PID 1: [F, G] → EINVAL",
			Expect: "EINVAL", Needs: SetTID | PIDNS,
			Run: func(t *T) {
				unsharePID(t)
				t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: t.Free(2)}))
			},
		},
		{
			ID: "set_tid/nested/unshare-then-init", Rule: "after unshare(CLONE_NEWPID), [1, F] creates the namespace's init",
			Expect: "pid F, nspid [1 F]", Needs: SetTID | PIDNS,
			Run: func(t *T) {
				unsharePID(t)
				tid := append([]int32{1}, t.Free(1)...)
				// The child lands one level below the caller, as with CLONE_NEWPID.
				t.Check(t.Want(tid, true), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/unshare-init-gone", Rule: "once the unshared namespace's init has exited, clone3 into it → ENOMEM",
			Expect: "ENOMEM", Needs: SetTID | PIDNS,
			Run: func(t *T) {
				unsharePID(t)
				tid := append([]int32{1}, t.Free(1)...)
				t.Require("create the namespace's init", t.Want(tid, true), t.Clone(Call{SetTID: tid}))
				t.Check(Errno(unix.ENOMEM), t.Clone(Call{SetTID: []int32{1}}))
			},
		},
		{
			ID: "set_tid/nested/max-depth-32-levels", Rule: "at depth 31 a 32-entry set_tid sets all 32 levels",
			Expect: "nspid [F1 … F32]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(31)},
			Serial: true, // 31 namespaces built and torn down: see Case.Serial
			Run: func(t *T) {
				tid := t.Free(32)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/nested/max-depth-newpid-level-32", Rule: "CLONE_NEWPID at depth 31 reaches level 32; 32 entries leave level 0 to the kernel",
			Expect: "nspid [1 F2 … F32 *]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(31)},
			Serial: true, // 31 namespaces built and torn down: see Case.Serial
			Run: func(t *T) {
				tid := append([]int32{1}, t.Free(31)...)
				t.Check(t.Want(tid, true), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "clone3/nested/beyond-max-depth", Rule: "a PID namespace below level 32 cannot be created → ENOSPC",
			Expect: "ENOSPC", Needs: Clone3 | PIDNS, Setup: Setup{Levels: levels(32)},
			Serial: true,
			Run:    func(t *T) { t.Check(Errno(unix.ENOSPC), t.Clone(Call{Flags: unix.CLONE_NEWPID})) },
		},
	}
}

// unsharePID moves the children of the body's calling task into a new PID
// namespace. unshare(CLONE_NEWPID) changes that task's pid_ns_for_children
// only; the body's thread is locked by both runners, and when it is the
// calling task it is marked poisoned so that it is retired, not reused.
func unsharePID(t *T) {
	if t.px == nil {
		t.poisoned = true
	}
	if _, e := t.Sys()(unix.SYS_UNSHARE, unix.CLONE_NEWPID); e != 0 {
		t.Fatalf("unshare(CLONE_NEWPID): %v", e)
	}
	t.below = 1
}
