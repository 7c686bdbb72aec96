//go:build linux

package matrix

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
	"github.com/vmtest/vmtest/internal/result"
)

// setns into descendants and the life cycle of a namespace made by
// unshare(CLONE_NEWPID).
func setnsCases() []Case {
	// setns(CLONE_NEWPID) from level 0 into a case's namespaces needs a
	// process at level 0 beside them, which only the proxy runner has.
	return []Case{
		{
			ID: "set_tid/setns/grandchild", Rule: "from level 0, setns into a grandchild PID namespace: set_tid chooses the PID at all three levels",
			Expect: "pid H, nspid [F G H]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(2)},
			Run: func(t *T) {
				tid := []int32{t.small(5), t.small(6), t.Free(1)[0]}
				t.Check(result.Answer{PID: int(tid[2]), NSpid: intsOf(tid)}, setnsClone(t, tid))
			},
		},
		{
			ID: "set_tid/setns/ancestor-userns", Rule: "root of the initial user namespace, setns'd into a depth-2 PID namespace owned by a child user namespace, may choose the PID at every level",
			Expect: "pid H, nspid [F G H]", Needs: SetTID | PIDNS | UserNS, Setup: Setup{Levels: []Level{{UserNS: true}, {}}},
			Run: func(t *T) {
				tid := []int32{t.small(5), t.small(6), t.Free(1)[0]}
				t.Check(result.Answer{PID: int(tid[2]), NSpid: intsOf(tid)}, setnsClone(t, tid))
			},
		},
	}
}

func lifecycleCases() []Case {
	// The life of a namespace made by unshare(CLONE_NEWPID): the caller's
	// children go there, the first must be its init, and what happens to
	// the namespace when that first child fails or exits.
	return []Case{
		{
			ID: "set_tid/lifecycle/unshare-life-cycle", Rule: "after unshare(CLONE_NEWPID): [F, G] refused (no init), [1, 1] refused at level 0, [1, F] makes a live init, a sibling gets [5, G], a plain child gets 2 levels",
			Expect: "EINVAL; EEXIST; init nspid [1 F]; nspid [5 G]; nspid [* *]", Needs: SetTID | PIDNS, Setup: Setup{OwnProcess: true},
			Run: func(t *T) {
				t.ownProxy() // before unshare: a proxy made after it would be the new namespace's init
				unsharePID(t)
				t.Require("first child [F, G], no init yet", Errno(unix.EINVAL), t.Clone(Call{SetTID: t.Free(2)}))
				t.Require("[1, 1]: 1 is taken at level 0", Errno(unix.EEXIST), t.Clone(Call{SetTID: []int32{1, 1}}))
				f := t.Free(1)[0]
				ini, err := t.ownProxy().SpawnSetTID(0, []int32{1, f})
				if err != nil {
					t.Require("init [1, F]", t.Want([]int32{1, f}, false), Errno(errnoOf(err)))
				}
				defer ini.Close()
				ns, err := clone3.NSpid(int(f))
				if err != nil {
					t.Fatalf("init's status: %v", err)
				}
				t.Require("init [1, F] alive", result.Answer{PID: int(f), NSpid: []int{1, int(f)}}, result.Answer{PID: ini.PID, NSpid: reversed(ns)})
				sib := []int32{5, t.Free(1)[0]}
				t.Require("sibling [5, G]", t.Want(sib, true), t.Clone(Call{SetTID: sib}))
				t.Check(result.Answer{NSpid: []int{0, 0}}, t.Clone(Call{}))
			},
		},
		{
			ID: "set_tid/lifecycle/unshare-first-fork-fails", Rule: "after unshare(CLONE_NEWPID), a first child that fails after alloc_pid (pidfd unwritable) leaves the namespace unusable: ENOMEM",
			Expect: "EFAULT; then ENOMEM", Needs: SetTID | PIDNS, Setup: Setup{OwnProcess: true},
			Run: func(t *T) {
				t.ownProxy() // before unshare: a proxy made after it would be the new namespace's init
				unsharePID(t)
				tid := append([]int32{1}, t.Free(1)...)
				t.Require("[1, F], pidfd unwritable", Errno(unix.EFAULT), t.Clone(Call{SetTID: tid, PidFDPtr: t.Unmapped()}))
				t.Check(Errno(unix.ENOMEM), t.Clone(Call{SetTID: append([]int32{1}, t.Free(1)...)}))
			},
		},
		{
			ID: "clone3/lifecycle/newpid-after-unshare", Rule: "CLONE_NEWPID after unshare(CLONE_NEWPID) → EINVAL (only the active namespace may get a child namespace)",
			Expect: "EINVAL", Needs: Clone3 | PIDNS, Setup: Setup{OwnProcess: true},
			Run: func(t *T) {
				t.ownProxy() // before unshare: a proxy made after it would be the new namespace's init
				unsharePID(t)
				t.Check(Errno(unix.EINVAL), t.Clone(Call{Flags: unix.CLONE_NEWPID}))
			},
		},
	}
}

func intsOf(s []int32) []int {
	out := make([]int, len(s))
	for i, v := range s {
		out[i] = int(v)
	}
	return out
}

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	for {
		if x, ok := err.(unix.Errno); ok {
			return x
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return e
		}
		err = u.Unwrap()
	}
}

// setnsClone makes a process of level 0 (the agent's child, root of the
// initial user namespace) setns into the PID namespace of the case's
// innermost proxy and asks it for a child with set_tid tid, which covers
// every level from that namespace up to level 0.
func setnsClone(t *T, tid []int32) result.Answer {
	if t.px == nil {
		// The exec runner's case process is the innermost level itself,
		// with no process of level 0 beside it.
		t.Skipf("setns from level 0 needs the proxy runner")
	}
	gpid, err := t.px.GPID()
	if err != nil {
		t.Fatalf("inner proxy's PID: %v", err)
	}
	fd, err := unix.Open(fmt.Sprintf("%s/%d/ns/pid", clone3.ProcRoot(), gpid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open the inner PID namespace: %v", err)
	}
	defer unix.Close(fd)
	outer, err := t.startProxy(0)
	if err != nil {
		t.Fatalf("level-0 process: %v", err)
	}
	defer outer.Close()
	if _, e := outer.Syscall(unix.SYS_SETNS, uintptr(fd), unix.CLONE_NEWPID); e != 0 {
		t.Fatalf("setns into the inner PID namespace: %v", e)
	}
	var got result.Answer
	t.Via(outer, 0, t.Depth, func() { got = t.Clone(Call{SetTID: tid}) })
	return got
}

// ownProxy returns the process the body's calls come from as a proxy:
// its own (the proxy runner's), or, in a case process of the exec
// runner, a proxy made for it at the same level, closed with the case.
func (t *T) ownProxy() *clone3.Proxy {
	if t.px != nil {
		return t.px
	}
	px, err := t.startProxy(0)
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	t.px, t.ownPx = px, true
	t.cleanup = append(t.cleanup, func() { px.Close() })
	return px
}
