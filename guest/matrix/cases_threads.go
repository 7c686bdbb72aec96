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
func init() {
	register("threads",
		Case{
			ID: "set_tid/threads/thread-gets-tid", Rule: "CLONE_THREAD|CLONE_VM|CLONE_SIGHAND with [F] makes a thread with TID F",
			Expect: "tid F, gettid F", Needs: SetTID,
			Run: func(t *T) {
				f := t.Free(1)
				t.Check(threadWant(f[0]), threadAnswer(t, f))
			},
		},
		Case{
			ID: "set_tid/threads/thread-tid-taken", Rule: "a thread asking for the process's own PID → EEXIST",
			Expect: "EEXIST", Needs: SetTID, Setup: Setup{OwnProcess: true},
			Run: func(t *T) { t.Check(Errno(unix.EEXIST), threadAnswer(t, []int32{int32(t.Self())})) },
		},
		Case{
			ID: "set_tid/threads/thread-tid-zero", Rule: "a thread asking for TID 0 → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), threadAnswer(t, []int32{0})) },
		},
		Case{
			ID: "set_tid/threads/thread-two-levels-at-0", Rule: "a thread lives in the caller's namespace: 2 entries at level 0 → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), threadAnswer(t, t.Free(2))) },
		},
		Case{
			ID: "set_tid/threads/thread-nested", Rule: "at depth 1 a thread can get chosen TIDs at both levels",
			Expect: "tid F, gettid F", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			Run: func(t *T) {
				f := t.Free(2)
				t.Check(threadWant(f[0]), threadAnswer(t, f))
			},
		},
	)
}

func threadWant(tid int32) result.Answer {
	return result.Answer{PID: int(tid), Note: fmt.Sprintf("thread saw gettid %d", tid)}
}

func threadAnswer(t *T, setTID []int32) result.Answer {
	r, err := clone3.ThreadVia(t.px, setTID)
	if err != nil {
		t.Fatalf("thread: %v", err)
	}
	if r.Errno != 0 {
		return result.Answer{Errno: ErrnoName(r.Errno)}
	}
	return result.Answer{PID: r.TID, Note: fmt.Sprintf("thread saw gettid %d", r.SelfTID)}
}
