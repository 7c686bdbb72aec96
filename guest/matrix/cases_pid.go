package matrix

import (
	"math"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// PID value checks of alloc_pid: the range [1, pid_max) and "not taken".
func init() {
	one := func(v int32) []int32 { return []int32{v} }
	register("pid",
		Case{
			ID: "set_tid/pid/zero", Rule: "PID 0 → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(0)})) },
		},
		Case{
			ID: "set_tid/pid/negative", Rule: "PID -1 → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(-1)})) },
		},
		Case{
			ID: "set_tid/pid/int-min", Rule: "PID INT_MIN → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(math.MinInt32)})) },
		},
		Case{
			ID: "set_tid/pid/one-in-initial-ns", Rule: "PID 1 in the initial namespace is taken by init → EEXIST",
			Expect: "EEXIST", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EEXIST), t.Clone(Call{SetTID: one(1)})) },
		},
		Case{
			ID: "set_tid/pid/pid-max-minus-1", Rule: "pid_max-1 is the largest valid PID",
			Expect: "pid pid_max-1", Needs: SetTID,
			Run: func(t *T) {
				tid := one(int32(t.PidMax - 1))
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		Case{
			ID: "set_tid/pid/pid-max", Rule: "PID == pid_max → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(int32(t.PidMax))})) },
		},
		Case{
			ID: "set_tid/pid/pid-max-plus-1", Rule: "PID > pid_max → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(int32(t.PidMax + 1))})) },
		},
		Case{
			ID: "set_tid/pid/int-max", Rule: "PID INT_MAX → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(math.MaxInt32)})) },
		},
		Case{
			ID: "set_tid/pid/in-use-self", Rule: "the caller's own PID is taken → EEXIST",
			Expect: "EEXIST", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EEXIST), t.Clone(Call{SetTID: one(int32(os.Getpid()))})) },
		},
		Case{
			ID: "set_tid/pid/in-use-by-thread", Rule: "a TID held by another thread of the caller is taken → EEXIST",
			Expect: "EEXIST", Needs: SetTID,
			Run: func(t *T) {
				tid := otherThread(t)
				t.Check(Errno(unix.EEXIST), t.Clone(Call{SetTID: one(int32(tid))}))
			},
		},
		Case{
			ID: "set_tid/pid/just-freed", Rule: "a PID freed by reaping its holder can be chosen at once",
			Expect: "pid F, then pid F again", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Require("first clone3", t.Want(tid, false), t.Clone(Call{SetTID: tid}))
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		Case{
			ID: "set_tid/pid/in-use-by-zombie", Rule: "an unreaped zombie still holds its PID → EEXIST",
			Expect: "EEXIST", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				z := t.Clone(Call{SetTID: tid, KeepZombie: true})
				t.Require("create zombie", t.Want(tid, false), z)
				defer t.Reap(z.PID)
				t.Check(Errno(unix.EEXIST), t.Clone(Call{SetTID: tid}))
			},
		},
	)
}

// otherThread returns a TID in the body's namespace that belongs to a
// thread, not a thread-group leader: one of the Go runtime's own threads.
func otherThread(t *T) int {
	ents, err := os.ReadDir("/proc/thread-self/..")
	if err != nil {
		t.Fatalf("list own threads: %v", err)
	}
	self := os.Getpid()
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err == nil && n != self {
			return n
		}
	}
	t.Fatalf("no second thread found in /proc/self/task")
	return 0
}
