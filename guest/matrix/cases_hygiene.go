//go:build linux

package matrix

import (
	"golang.org/x/sys/unix"
)

// Error-path hygiene: alloc_pid allocates from the innermost level outward;
// when an outer level fails, the PIDs already taken at inner levels must be
// released, or a restorer retrying the same PIDs would see EEXIST forever.
func hygieneCases() []Case {
	return []Case{
		{
			ID: "set_tid/hygiene/inner-freed-after-outer-eexist", Rule: "after [F, 1] fails with EEXIST at level 0, F is free at level 1",
			Expect: "EEXIST, then pid F", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				f := t.Free(1)
				t.Require("[F, 1]", Errno(unix.EEXIST), t.Clone(Call{SetTID: append(f, 1)}))
				t.Check(t.Want(f, false), t.Clone(Call{SetTID: f}))
			},
		},
		{
			ID: "set_tid/hygiene/inner-freed-after-outer-einval", Rule: "after [F, pid_max] fails with EINVAL, F is free",
			Expect: "EINVAL, then pid F", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				f := t.Free(1)
				t.Require("[F, pid_max]", Errno(unix.EINVAL), t.Clone(Call{SetTID: append(f, int32(t.PidMax))}))
				t.Check(t.Want(f, false), t.Clone(Call{SetTID: f}))
			},
		},
		{
			ID: "set_tid/hygiene/inner-freed-after-outer-eperm", Rule: "after [F, G] fails with EPERM at an unowned level, F is free",
			Expect: "EPERM, then pid F", Needs: SetTID | PIDNS | UserNS, Setup: Setup{Levels: []Level{{UserNS: true}}},
			Run: func(t *T) {
				fg := t.Free(2)
				t.Require("[F, G]", Errno(unix.EPERM), t.Clone(Call{SetTID: fg}))
				t.Check(t.Want(fg[:1], false), t.Clone(Call{SetTID: fg[:1]}))
			},
		},
		{
			ID: "set_tid/hygiene/two-inner-freed-after-outer-eexist", Rule: "at depth 2, after [F, G, 1] fails, both F and G are free",
			Expect: "EEXIST, then pid F, nspid [F G *]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(2)},
			Run: func(t *T) {
				fg := t.Free(2)
				t.Require("[F, G, 1]", Errno(unix.EEXIST), t.Clone(Call{SetTID: append(append([]int32{}, fg...), 1)}))
				t.Check(t.Want(fg, false), t.Clone(Call{SetTID: fg}))
			},
		},
		{
			ID: "set_tid/hygiene/zombie-then-reaped", Rule: "a PID is taken while its holder is a zombie and choosable once reaped",
			Expect: "pid F; EEXIST; reap; pid F", Needs: SetTID,
			Run: func(t *T) {
				f := t.Free(1)
				z := t.Clone(Call{SetTID: f, KeepZombie: true})
				t.Require("create holder", t.Want(f, false), z)
				t.Require("while the holder is a zombie", Errno(unix.EEXIST), t.Clone(Call{SetTID: f}))
				t.Reap(z.PID)
				t.Check(t.Want(f, false), t.Clone(Call{SetTID: f}))
			},
		},
		{
			ID: "set_tid/hygiene/nested-zombie-then-reaped", Rule: "at depth 1 the inner PID is held by a zombie and freed by reaping",
			Expect: "pid F; EEXIST; reap; pid F", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				fg := t.Free(2)
				z := t.Clone(Call{SetTID: fg, KeepZombie: true})
				t.Require("create holder", t.Want(fg, false), z)
				t.Require("inner PID while the holder is a zombie", Errno(unix.EEXIST), t.Clone(Call{SetTID: fg[:1]}))
				t.Reap(z.PID)
				t.Check(t.Want(fg, false), t.Clone(Call{SetTID: fg}))
			},
		},
		{
			ID: "set_tid/hygiene/failed-newpid-leaves-pid-free", Rule: "a CLONE_NEWPID call that fails after alloc_pid (pidfd unwritable) releases its PID at every level, level 0 included",
			Expect: "EFAULT at [1, F, G]; then pid F, nspid [1 F G]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				tid := append([]int32{1}, t.Free(2)...)
				t.Require("[1, F, G], pidfd unwritable", Errno(unix.EFAULT), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid, PidFDPtr: t.Unmapped()}))
				t.Check(t.Want(tid, true), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/hygiene/failed-newpid-at-level-0", Rule: "a CLONE_NEWPID call failing at level 0 (EEXIST) releases what it took at levels 1 and 2",
			Expect: "EEXIST at [1, F, 1]; then pid F at level 1", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				f := t.Free(1)
				t.Require("[1, F, 1]", Errno(unix.EEXIST), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: []int32{1, f[0], 1}}))
				t.Check(t.Want(f, false), t.Clone(Call{SetTID: f}))
			},
		},
		{
			ID: "set_tid/hygiene/freed-after-pidfd-fault", Rule: "a clone3 failing after alloc_pid (pidfd unwritable) frees the chosen PID at once",
			Expect: "EFAULT; then pid F", Needs: SetTID,
			Run: func(t *T) {
				f := t.Free(1)
				t.Require("[F], pidfd unwritable", Errno(unix.EFAULT), t.Clone(Call{SetTID: f, PidFDPtr: t.Unmapped()}))
				t.Check(t.Want(f, false), t.Clone(Call{SetTID: f}))
			},
		},
		{
			ID: "set_tid/hygiene/nested-freed-after-pidfd-fault", Rule: "at depth 1, a clone3 failing after alloc_pid frees the chosen PIDs at both levels",
			Expect: "EFAULT; then pid F, nspid [F G]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				fg := t.Free(2)
				t.Require("[F, G], pidfd unwritable", Errno(unix.EFAULT), t.Clone(Call{SetTID: fg, PidFDPtr: t.Unmapped()}))
				t.Check(t.Want(fg, false), t.Clone(Call{SetTID: fg}))
			},
		},
	}
}
