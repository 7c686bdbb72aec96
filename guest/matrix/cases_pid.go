//go:build linux

package matrix

import (
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// PID value checks of alloc_pid: the range [1, pid_max) and "not taken".
func pidCases() []Case {
	one := func(v int32) []int32 { return []int32{v} }
	return []Case{
		{
			ID: "set_tid/pid/zero", Rule: "PID 0 → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(0)})) },
		},
		{
			ID: "set_tid/pid/negative", Rule: "PID -1 → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(-1)})) },
		},
		{
			ID: "set_tid/pid/int-min", Rule: "PID INT_MIN → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(math.MinInt32)})) },
		},
		{
			ID: "set_tid/pid/one-in-initial-ns", Rule: "PID 1 in the initial namespace is taken by init → EEXIST",
			Expect: "EEXIST", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EEXIST), t.Clone(Call{SetTID: one(1)})) },
		},
		{
			ID: "set_tid/pid/pid-max-minus-1", Rule: "pid_max-1 is the largest valid PID",
			Expect: "pid pid_max-1", Needs: SetTID,
			Run: func(t *T) {
				tid := one(int32(t.PidMax - 1))
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/pid/pid-max", Rule: "PID == pid_max → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(int32(t.PidMax))})) },
		},
		{
			ID: "set_tid/pid/pid-max-plus-1", Rule: "PID > pid_max → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(int32(t.PidMax + 1))})) },
		},
		{
			ID: "set_tid/pid/int-max", Rule: "PID INT_MAX → EINVAL",
			Expect: "EINVAL", Needs: SetTID,
			Run: func(t *T) { t.Check(Errno(unix.EINVAL), t.Clone(Call{SetTID: one(math.MaxInt32)})) },
		},
		{
			ID: "set_tid/pid/in-use-self", Rule: "the caller's own PID is taken → EEXIST",
			Expect: "EEXIST", Needs: SetTID, Setup: Setup{OwnProcess: true},
			Run: func(t *T) { t.Check(Errno(unix.EEXIST), t.Clone(Call{SetTID: one(int32(t.Self()))})) },
		},
		{
			ID: "set_tid/pid/in-use-by-thread", Rule: "a TID held by another thread of the caller is taken → EEXIST",
			Expect: "EEXIST", Needs: SetTID,
			Run: func(t *T) {
				tid, release := otherThread()
				defer release()
				t.Check(Errno(unix.EEXIST), t.Clone(Call{SetTID: one(int32(tid))}))
			},
		},
		{
			ID: "set_tid/pid/just-freed", Rule: "a PID freed by reaping its holder can be chosen at once",
			Expect: "pid F, then pid F again", Needs: SetTID,
			Run: func(t *T) {
				tid := t.Free(1)
				t.Require("first clone3", t.Want(tid, false), t.Clone(Call{SetTID: tid}))
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
			ID: "set_tid/pid/pid-max-lowered", Rule: "pid_max lowered at run time through /proc/sys/kernel/pid_max is honoured at every level",
			Expect: "[s, L] EINVAL; [L, F] EINVAL; [s, L-1] nspid [s L-1]", Needs: SetTID | PIDNS, Setup: Setup{Levels: levels(1)},
			// pid_max is global: lowering it under other cases would
			// change their answers. Restored before the case ends.
			Exclusive: true,
			Run: func(t *T) {
				f := t.Free(2)
				low := f[0] + 1 // f[0], the band's top free PID, stays the largest valid one
				restore := setPidMax(t, int(low))
				defer restore()
				s := t.small(10)
				t.Require("[s, L]: L at level 0", Errno(unix.EINVAL), t.Clone(Call{SetTID: []int32{s, low}}))
				t.Require("[L, F]: L at level 1", Errno(unix.EINVAL), t.Clone(Call{SetTID: []int32{low, f[1]}}))
				tid := []int32{s, low - 1}
				t.Check(t.Want(tid, false), t.Clone(Call{SetTID: tid}))
			},
		},
		{
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
	}
}

// otherThread starts a thread of the caller's own (a locked goroutine) and
// returns its TID, which is not a thread-group leader's PID. The thread
// stays alive until release is called: the agent's other threads come and
// go, so one of them could free its TID before the clone3 call.
func otherThread() (tid int, release func()) {
	got := make(chan int)
	stop := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		got <- unix.Gettid()
		<-stop
	}()
	return <-got, func() { close(stop) }
}

// setPidMax writes /proc/sys/kernel/pid_max and returns the function that
// writes the old value back, which the case must call on every path
// (deferred: Fatalf and Require unwind through it).
func setPidMax(t *T, v int) (restore func()) {
	const path = "/proc/sys/kernel/pid_max"
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read pid_max: %v", err)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(v)), 0); err != nil {
		t.Fatalf("lower pid_max to %d: %v", v, err)
	}
	return func() {
		if err := os.WriteFile(path, old, 0); err != nil {
			t.Fatalf("restore pid_max %s: %v", strings.TrimSpace(string(old)), err)
		}
	}
}
