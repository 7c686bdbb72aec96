//go:build linux

package matrix

import (
	"golang.org/x/sys/unix"
)

// unprivileged is the UID the matrix uses for a user without capabilities
// (nobody).
const unprivileged = 65534

// Privilege: every level set_tid names needs CAP_SYS_ADMIN or (5.9+)
// CAP_CHECKPOINT_RESTORE in the user namespace that owns that level's PID
// namespace — not the caller's user namespace, and not only the initial one.
// This was the point of the set_tid review: a container root must be able
// to choose PIDs in the namespaces it owns and nowhere above.
func usernsCases() []Case {
	userLevel := []Level{{UserNS: true}}
	return []Case{
		{
			ID: "set_tid/userns/real-root", Rule: "root in the initial user namespace may choose a PID",
			Expect: "pid F", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/userns/unprivileged-uid", Rule: "a uid without capabilities → EPERM",
			Expect: "EPERM", Needs: SetTID, Setup: Setup{UID: unprivileged},
			Run: func(t *T) { t.Check(Errno(unix.EPERM), t.Clone(Call{SetTID: t.Free(1)})) },
		},
		{
			ID: "set_tid/userns/unprivileged-uid-taken-pid", Rule: "without privilege the answer is EPERM even for a taken PID (no probing of PIDs)",
			Expect: "EPERM", Needs: SetTID, Setup: Setup{UID: unprivileged},
			Run: func(t *T) { t.Check(Errno(unix.EPERM), t.Clone(Call{SetTID: []int32{1}})) },
		},
		{
			ID: "set_tid/userns/cap-checkpoint-restore-only-uid", Rule: "a non-root uid with only CAP_CHECKPOINT_RESTORE may choose a PID (5.9+)",
			Expect: "pid F", Needs: SetTID | CheckpointRestoreCap,
			Setup: Setup{UID: unprivileged, AmbientCaps: []Cap{CapCheckpointRestore}},
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/userns/cap-sys-admin-only-uid", Rule: "a non-root uid with only CAP_SYS_ADMIN may choose a PID",
			Expect: "pid F", Needs: SetTID,
			Setup: Setup{UID: unprivileged, AmbientCaps: []Cap{CapSysAdmin}},
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/userns/cap-checkpoint-restore-only-root", Rule: "uid 0 whose thread keeps only CAP_CHECKPOINT_RESTORE may choose a PID",
			Expect: "pid F", Needs: SetTID | CheckpointRestoreCap,
			Setup: Setup{KeepOnlyCaps: []Cap{CapCheckpointRestore}},
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/userns/cap-permitted-not-effective", Rule: "CAP_CHECKPOINT_RESTORE permitted but not effective → EPERM; raised to effective, the same PID is chosen",
			Expect: "EPERM, then pid F", Needs: SetTID | CheckpointRestoreCap,
			Setup: Setup{KeepOnlyCaps: []Cap{CapCheckpointRestore}},
			Run: func(t *T) {
				tid := t.Free(1)
				if err := t.SetEffectiveCap(CapCheckpointRestore, false); err != nil {
					t.Fatalf("lower CAP_CHECKPOINT_RESTORE: %v", err)
				}
				t.Require("with the capability only permitted", Errno(unix.EPERM), t.Clone(Call{SetTID: tid}))
				if err := t.SetEffectiveCap(CapCheckpointRestore, true); err != nil {
					t.Fatalf("raise CAP_CHECKPOINT_RESTORE: %v", err)
				}
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/userns/dropped-both-caps", Rule: "uid 0 without CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE → EPERM",
			Expect: "EPERM", Needs: SetTID,
			Setup: Setup{DropCaps: []Cap{CapSysAdmin, CapCheckpointRestore}},
			Run:   func(t *T) { t.Check(Errno(unix.EPERM), t.Clone(Call{SetTID: t.Free(1)})) },
		},
		{
			ID: "set_tid/userns/owner-sets-own-level", Rule: "root of a user namespace owning the PID namespace may set that level",
			Expect: "pid F, nspid [F *]", Needs: SetTID | PIDNS | UserNS, Setup: Setup{Levels: userLevel},
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/userns/owner-ancestor-level-eperm", Rule: "… but not the level owned by the ancestor user namespace → EPERM",
			Expect: "EPERM", Needs: SetTID | PIDNS | UserNS, Setup: Setup{Levels: userLevel},
			Run: func(t *T) { t.Check(Errno(unix.EPERM), t.Clone(Call{SetTID: t.Free(2)})) },
		},
		{
			ID: "set_tid/userns/owner-newpid-owned-levels", Rule: "a new PID namespace made by the owner is owned too: [1, F] allowed",
			Expect: "pid F, nspid [1 F *]", Needs: SetTID | PIDNS | UserNS, Setup: Setup{Levels: userLevel},
			Run: func(t *T) {
				tid := append([]int32{1}, t.Free(1)...)
				t.Check(t.Want(tid, true), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/userns/owner-newpid-ancestor-eperm", Rule: "[1, F, G] from the owner reaches level 0 → EPERM",
			Expect: "EPERM", Needs: SetTID | PIDNS | UserNS, Setup: Setup{Levels: userLevel},
			Run: func(t *T) {
				tid := append([]int32{1}, t.Free(2)...)
				t.Check(Errno(unix.EPERM), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/userns/owned-level-2-of-2", Rule: "user namespace created at level 2: level 2 allowed",
			Expect: "pid F, nspid [F * *]", Needs: SetTID | PIDNS | UserNS,
			Setup: Setup{Levels: []Level{{}, {UserNS: true}}},
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/userns/unowned-level-1-of-2", Rule: "… level 1 belongs to the initial user namespace although it is not level 0 → EPERM",
			Expect: "EPERM", Needs: SetTID | PIDNS | UserNS,
			Setup: Setup{Levels: []Level{{}, {UserNS: true}}},
			Run:   func(t *T) { t.Check(Errno(unix.EPERM), t.Clone(Call{SetTID: t.Free(2)})) },
		},
		{
			ID: "set_tid/userns/owned-levels-1-and-2", Rule: "user namespace at level 1 owns levels 1 and 2: [F, G] allowed at depth 2",
			Expect: "pid F, nspid [F G *]", Needs: SetTID | PIDNS | UserNS,
			Setup: Setup{Levels: []Level{{UserNS: true}, {}}},
			Run: func(t *T) {
				tid := t.Free(2)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/userns/owned-levels-1-and-2-not-0", Rule: "… and [F, G, H] reaching level 0 → EPERM",
			Expect: "EPERM", Needs: SetTID | PIDNS | UserNS,
			Setup: Setup{Levels: []Level{{UserNS: true}, {}}},
			Run:   func(t *T) { t.Check(Errno(unix.EPERM), t.Clone(Call{SetTID: t.Free(3)})) },
		},
		{
			ID: "set_tid/userns/ancestor-level-taken-eperm", Rule: "a taken PID at a level owned by an ancestor user namespace → EPERM, not EEXIST (container root must not learn which host PIDs exist)",
			Expect: "EPERM", Needs: SetTID | PIDNS | UserNS, Setup: Setup{Levels: userLevel},
			Run: func(t *T) { t.Check(Errno(unix.EPERM), t.Clone(Call{SetTID: append(t.Free(1), 1)})) },
		},
		{
			ID: "set_tid/userns/unprivileged-negative-einval", Rule: "without privilege an invalid PID (-1) is EINVAL: the range check comes before the privilege check",
			Expect: "EINVAL", Needs: SetTID, Setup: Setup{UID: unprivileged},
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: []int32{-1}})) },
		},
		{
			// Found by vmtest mutate: without it, forcing false (or making
			// "> 1") copy_clone_args_from_user's check of a NULL set_tid
			// with a non-zero set_tid_size survived, because every other
			// case with that input reaches alloc_pid, which also answers
			// EINVAL (the on-stack array it then reads is zeroed). Here
			// copy_process refuses first: CLONE_NEWPID needs CAP_SYS_ADMIN.
			ID: "set_tid/userns/unprivileged-newpid-size-without-pointer", Rule: "without privilege, CLONE_NEWPID with set_tid NULL and set_tid_size 1 is EINVAL, not EPERM: clone3 checks its arguments before copy_process checks the namespace permission",
			Expect: "EINVAL", Needs: SetTID | PIDNS, Setup: Setup{UID: unprivileged},
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTIDSize: U64(1)}))
			},
		},
		{
			ID: "set_tid/userns/unprivileged-pid-max-einval", Rule: "without privilege pid_max is EINVAL, not EPERM",
			Expect: "EINVAL", Needs: SetTID, Setup: Setup{UID: unprivileged},
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: []int32{int32(t.PidMax)}})) },
		},
		{
			ID: "set_tid/userns/cap-checkpoint-restore-only-in-child-userns", Rule: "a non-root uid holding only CAP_CHECKPOINT_RESTORE inside a child user namespace may choose the PID at the level that namespace owns",
			Expect: "pid F, nspid [F *]", Needs: SetTID | PIDNS | UserNS | CheckpointRestoreCap,
			Setup: Setup{Levels: userLevel, UID: 1000, AmbientCaps: []Cap{CapCheckpointRestore}},
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/userns/cap-checkpoint-restore-child-userns-not-ancestor", Rule: "… and EPERM at the level owned by the initial user namespace",
			Expect: "EPERM", Needs: SetTID | PIDNS | UserNS | CheckpointRestoreCap,
			Setup: Setup{Levels: userLevel, UID: 1000, AmbientCaps: []Cap{CapCheckpointRestore}},
			Run:   func(t *T) { t.Check(Errno(unix.EPERM), t.Clone(Call{SetTID: t.Free(2)})) },
		},
		{
			ID: "set_tid/userns/unprivileged-newuser-newpid", Rule: "an unprivileged uid making CLONE_NEWUSER|CLONE_NEWPID in one call may choose PID 1 of the new namespace, which its new user namespace owns",
			Expect: "pid *, nspid [1 *]", Needs: SetTID | PIDNS | UserNS, Setup: Setup{UID: unprivileged},
			Run: func(t *T) {
				t.Check(t.Want([]int32{1}, true), t.Clone(Call{Flags: unix.CLONE_NEWUSER | unix.CLONE_NEWPID, SetTID: []int32{1}}))
			},
		},
		{
			ID: "set_tid/userns/unprivileged-newuser-newpid-outer-eperm", Rule: "… but not its PID in the caller's namespace: [1, F] → EPERM",
			Expect: "EPERM", Needs: SetTID | PIDNS | UserNS, Setup: Setup{UID: unprivileged},
			Run: func(t *T) {
				t.Check(Errno(unix.EPERM), t.Clone(Call{Flags: unix.CLONE_NEWUSER | unix.CLONE_NEWPID, SetTID: append([]int32{1}, t.Free(1)...)}))
			},
		},
		{
			ID: "set_tid/userns/nonroot-in-owner-userns", Rule: "a non-root uid inside the owning user namespace has no capability → EPERM",
			Expect: "EPERM", Needs: SetTID | PIDNS | UserNS,
			Setup: Setup{Levels: userLevel, UID: 1000},
			Run:   func(t *T) { t.Check(Errno(unix.EPERM), t.Clone(Call{SetTID: t.Free(1)})) },
		},
	}
}
