//go:build linux

package matrix

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
	"github.com/vmtest/vmtest/internal/result"
)

// Threads: set_tid also picks the TID of a new thread (CLONE_THREAD), which
// CRIU needs to restore multithreaded processes. The thread itself reports
// what gettid() says, so the check does not rest on clone3's return alone.
func threadCases() []Case {
	return []Case{
		{
			ID: "set_tid/threads/thread-gets-tid", Rule: "CLONE_THREAD|CLONE_VM|CLONE_SIGHAND with [F] makes a thread with TID F",
			Expect: "tid F, gettid F", Needs: SetTID,
			Run: func(t *T) {
				f := t.Free(1)
				t.Check(threadWant(f[0]), threadAnswer(t, f))
			},
		},
		{
			ID: "set_tid/threads/thread-tid-taken", Rule: "a thread asking for the process's own PID → EEXIST",
			Expect: "EEXIST", Needs: SetTID, Setup: Setup{OwnProcess: true},
			Run: func(t *T) { t.Check(Errno(unix.EEXIST), threadAnswer(t, []int32{int32(t.Self())})) },
		},
		{
			ID: "set_tid/threads/thread-tid-zero", Rule: "a thread asking for TID 0 → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), threadAnswer(t, []int32{0})) },
		},
		{
			ID: "set_tid/threads/thread-two-levels-at-0", Rule: "a thread lives in the caller's namespace: 2 entries at level 0 → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), threadAnswer(t, t.Free(2))) },
		},
		{
			ID: "set_tid/threads/thread-nested", Rule: "at depth 1 a thread gets chosen TIDs at both levels: /proc, gettid and parent_tid agree",
			Expect: "tid F, nspid [F G], gettid F, parent_tid F", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				f := t.Free(2)
				t.Check(liveThreadWant(f), liveThreadAnswer(t, f))
			},
		},
		{
			ID: "set_tid/threads/thread-three-levels", Rule: "at depth 2 a thread gets chosen TIDs at all three levels, small ones included",
			Expect: "tid 2, nspid [2 300 F], gettid 2, parent_tid 2", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(2)},
			Run: func(t *T) {
				t.ownProxy() // first: in the exec runner it takes a low PID of this level
				tid := append([]int32{t.small(2), 300}, t.Free(1)...)
				t.Check(liveThreadWant(tid), liveThreadAnswer(t, tid))
			},
		},
		{
			ID: "set_tid/threads/thread-level-0-proc", Rule: "at level 0 a thread's chosen TID is its TID in /proc, gettid and parent_tid",
			Expect: "tid F, nspid [F], gettid F, parent_tid F", Needs: SetTID, Setup: Setup{OwnProcess: true},
			Run: func(t *T) {
				f := t.Free(1)
				t.Check(liveThreadWant(f), liveThreadAnswer(t, f))
			},
		},
		{
			ID: "set_tid/threads/thread-after-unshare", Rule: "after unshare(CLONE_NEWPID) a thread would live in another PID namespace than its group → EINVAL, even with a set_tid valid there",
			Expect: "EINVAL", Needs: SetTID | PIDNS, Setup: Setup{OwnProcess: true},
			Run: func(t *T) {
				px := t.ownProxy() // before unshare: a proxy made after it would be the new namespace's init
				unsharePID(t)
				tid := append([]int32{1}, t.Free(1)...)
				th, e, err := px.SpawnThread(tid)
				if err != nil {
					t.Fatalf("thread: %v", err)
				}
				if e == 0 {
					th.Exit()
					t.Check(Errno(unix.EINVAL), result.Answer{PID: th.PID})
					return
				}
				t.Check(Errno(unix.EINVAL), Errno(e))
			},
		},
	}
}

func threadWant(tid int32) result.Answer {
	return result.Answer{PID: int(tid), Note: fmt.Sprintf("thread saw gettid %d", tid)}
}

// liveThreadWant is liveThreadAnswer's answer for a thread that got the
// TIDs tid (innermost first).
func liveThreadWant(tid []int32) result.Answer {
	return result.Answer{PID: int(tid[0]), NSpid: intsOf(tid), Note: fmt.Sprintf("gettid %d, parent_tid %d", tid[0], tid[0])}
}

// liveThreadAnswer makes a thread with set_tid tid covering every level,
// in the thread group of the body's calling process, and reads while it
// lives its NSpid from /proc under its global TID (the last entry), what
// it says gettid is, and what CLONE_PARENT_SETTID stored.
func liveThreadAnswer(t *T, tid []int32) result.Answer {
	th, e, err := t.ownProxy().SpawnThread(tid)
	if err != nil {
		t.Fatalf("thread: %v", err)
	}
	if e != 0 {
		return result.Answer{Errno: ErrnoName(e)}
	}
	defer func() {
		if err := th.Exit(); err != nil {
			t.Fatalf("%v", err)
		}
	}()
	ns, err := clone3.NSpid(int(tid[len(tid)-1]))
	if err != nil {
		t.Fatalf("thread %d: %v", th.PID, err)
	}
	self, e := th.Syscall(unix.SYS_GETTID)
	if e != 0 {
		t.Fatalf("gettid in the thread: %v", e)
	}
	return result.Answer{PID: th.PID, NSpid: reversed(ns), Note: fmt.Sprintf("gettid %d, parent_tid %d", self, th.ParentTID)}
}

func threadAnswer(t *T, setTID []int32) result.Answer {
	r, err := clone3.ThreadVia(t.px, setTID)
	if err != nil {
		t.Fatalf("thread: %v", err)
	}
	if r.Errno != 0 {
		return result.Answer{Errno: ErrnoName(r.Errno)}
	}
	note := fmt.Sprintf("thread saw gettid %d", r.SelfTID)
	if r.ParentTID != int32(r.TID) {
		note += fmt.Sprintf(", but parent_tid %d", r.ParentTID)
	}
	return result.Answer{PID: r.TID, Note: note}
}
