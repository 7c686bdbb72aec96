//go:build linux

package matrix

import (
	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
)

// Argument checks of copy_clone_args_from_user and alloc_pid's first test:
// the set_tid array's size and pointer, and the struct size versions that
// carry it.
func argsCases() []Case {
	return []Case{
		{
			ID: "set_tid/args/size-1", Rule: "one entry picks the PID in the caller's namespace",
			Expect: "pid F", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/args/size-2-at-level-0", Rule: "more entries than the child's PID namespace levels → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: t.Free(2)})) },
		},
		{
			ID: "set_tid/args/size-31-at-level-0", Rule: "31 entries at level 0 → EINVAL (only one level exists)",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: t.Free(31)})) },
		},
		{
			ID: "set_tid/args/size-32-at-level-0", Rule: "32 (MAX_PID_NS_LEVEL) entries at level 0 → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: t.Free(32)})) },
		},
		{
			ID: "set_tid/args/size-33", Rule: "set_tid_size > MAX_PID_NS_LEVEL → EINVAL before anything is read (the array is unreadable: reading it would be EFAULT)",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) {
				t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTIDPtr: t.Unmapped(), SetTIDSize: U64(33)}))
			},
		},
		{
			ID: "set_tid/args/size-33-readable", Rule: "set_tid_size 33 with 33 readable free PIDs → EINVAL (upstream's L177 with values)",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: t.Free(33)})) },
		},
		{
			ID: "set_tid/args/size-64", Rule: "set_tid_size 2*MAX_PID_NS_LEVEL → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: make([]int32, 64)})) },
		},
		{
			ID: "set_tid/args/size-huge", Rule: "a huge set_tid_size → EINVAL, never a huge read",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: tid, SetTIDSize: U64(1 << 40)}))
			},
		},
		{
			ID: "set_tid/args/size-u64-max", Rule: "set_tid_size with the high bit set → EINVAL (no sign confusion)",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: tid, SetTIDSize: U64(^uint64(0))}))
			},
		},
		{
			ID: "set_tid/args/pointer-without-size", Rule: "set_tid set, set_tid_size 0 → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: tid, SetTIDSize: U64(0)}))
			},
		},
		{
			ID: "set_tid/args/size-without-pointer", Rule: "set_tid NULL, set_tid_size 1 → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTIDSize: U64(1)})) },
		},
		{
			ID: "set_tid/args/unreadable-pointer", Rule: "set_tid pointing at an inaccessible page → EFAULT",
			Expect: "EFAULT", Needs: SetTID,
			Run: func(t *T) {
				addr := t.Unmapped()
				t.Check(Errno(unix.EFAULT), t.Clone(Call{SetTIDPtr: addr, SetTIDSize: U64(1)}))
			},
		},
		{
			ID: "set_tid/args/array-crosses-into-unmapped", Rule: "an array whose second entry is unreadable → EFAULT",
			Expect: "EFAULT", Needs: SetTID | PIDNS,
			Run: func(t *T) {
				addr := t.GuardedArray([]int32{1})
				// Two entries are legal with CLONE_NEWPID; the second one
				// lies on the inaccessible page.
				t.Check(Errno(unix.EFAULT), t.Clone(Call{Flags: unix.CLONE_NEWPID, SetTIDPtr: addr, SetTIDSize: U64(2)}))
			},
		},
		{
			ID: "set_tid/args/array-ends-at-unmapped", Rule: "exactly set_tid_size entries are read: a one-entry array ending at an inaccessible page is fine",
			Expect: "pid F", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{SetTIDPtr: t.GuardedArray(tid), SetTIDSize: U64(1), SetTID: tid}))
			},
		},
		{
			ID: "set_tid/args/kernel-pointer", Rule: "set_tid pointing into kernel space → EFAULT",
			Expect: "EFAULT", Needs: SetTID,
			Run: func(t *T) {
				t.Check(Errno(unix.EFAULT), t.Clone(Call{SetTIDPtr: 0xffffffff81000000, SetTIDSize: U64(1)}))
			},
		},
		{
			ID: "set_tid/args/struct-ver0-ignores-set_tid", Rule: "a VER0 struct does not carry set_tid: fields beyond size are not read",
			Expect: "success, pid ≠ F", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				got := t.Clone(Call{Size: clone3.SizeVer0, SetTID: tid})
				if got.Errno == "" && got.PID == int(tid[0]) {
					t.Fail(anySuccess(), got, "kernel honoured set_tid beyond the struct size it was given")
					return
				}
				t.Check(anySuccess(), got)
			},
		},
		{
			ID: "set_tid/args/struct-ver1", Rule: "VER1 (80 bytes) carries set_tid",
			Expect: "pid F", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{Size: clone3.SizeVer1, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/args/struct-ver2", Rule: "VER2 (88 bytes) with cgroup 0 carries set_tid",
			Expect: "pid F", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{Size: clone3.SizeVer2, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/args/struct-larger-zero-tail", Rule: "a struct larger than the kernel knows, zero tail, is accepted",
			Expect: "pid F", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{Size: clone3.SizeVer2 + 64, SetTID: tid}))
			},
		},
		{
			ID: "set_tid/args/struct-larger-nonzero-tail", Rule: "a larger struct with non-zero unknown bytes → E2BIG",
			Expect: "E2BIG", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(Errno(unix.E2BIG), t.Clone(Call{Size: clone3.SizeVer2 + 64, SetTID: tid, Tail: []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff}}))
			},
		},
		{
			ID: "set_tid/args/struct-page-size", Rule: "a PAGE_SIZE struct with a zero tail carries set_tid",
			Expect: "pid F", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(t.Want(tid, false), t.Clone(Call{Size: pageSize(), SetTID: tid}))
			},
		},
		{
			ID: "set_tid/args/struct-larger-than-page", Rule: "size > PAGE_SIZE → E2BIG even with a valid set_tid",
			Expect: "E2BIG", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Check(Errno(unix.E2BIG), t.Clone(Call{Size: pageSize() + 1, SetTID: tid}))
			},
		},
	}
}
