//go:build linux

package matrix

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
	"github.com/vmtest/vmtest/internal/result"
)

const (
	raceWorkers = 8
	raceRounds  = 3
	lastPIDRuns = 8
)

// Concurrency: set_tid exists because the old route (write ns_last_pid,
// then fork) races with every other fork in the namespace. With set_tid the
// kernel either gives exactly the PID asked for or says EEXIST.
func concurrencyCases() []Case {
	return exclusive(
		Case{
			ID: "set_tid/concurrency/race-one-pid", Rule: fmt.Sprintf("%d workers racing for one PID: exactly one gets it, the rest EEXIST", raceWorkers),
			Expect: fmt.Sprintf("%d round(s) of 1 success + %d EEXIST", raceRounds, raceWorkers-1), Needs: SetTID,
			Run: func(t *T) {
				want := result.Answer{Note: fmt.Sprintf("%d round(s): 1 success at the chosen PID + %d EEXIST each", raceRounds, raceWorkers-1)}
				for r := 0; r < raceRounds; r++ {
					p := t.Free(1)[0]
					ok, eexist, other := raceFor(t, p)
					if ok != 1 || eexist != raceWorkers-1 || other != "" {
						got := result.Answer{Note: fmt.Sprintf("round %d: %d successes, %d EEXIST%s", r+1, ok, eexist, other)}
						t.Check(want, got)
						return
					}
				}
				t.Check(want, want)
			},
		},
		Case{
			ID: "set_tid/concurrency/distinct-pids-in-parallel", Rule: "workers choosing distinct PIDs at once all get theirs",
			Expect: fmt.Sprintf("%d successes, each at its PID", raceWorkers), Needs: SetTID,
			Run: func(t *T) {
				pids := t.Free(raceWorkers)
				got := make([]int, raceWorkers)
				errs := make([]unix.Errno, raceWorkers)
				parallel(raceWorkers, func(i int) { got[i], errs[i] = cloneSetTID([]int32{pids[i]}) })
				bad := ""
				for i := range pids {
					if errs[i] != 0 || got[i] != int(pids[i]) {
						bad += fmt.Sprintf(" worker %d asked %d got %d/%v;", i, pids[i], got[i], errs[i])
					}
					if got[i] > 0 {
						if err := clone3.WaitExit(got[i]); err != nil {
							t.Fatalf("reap: %v", err)
						}
					}
				}
				want := result.Answer{Note: "all workers got their PID"}
				if bad != "" {
					t.Check(want, result.Answer{Note: bad})
					return
				}
				t.Check(want, want)
			},
		},
		Case{
			ID: "set_tid/concurrency/ns_last_pid-contrast", Rule: "set_tid never yields another PID under fork pressure; ns_last_pid races are counted as information",
			Expect: "set_tid: every PID as asked, 0 wrong, 0 EEXIST", Needs: SetTID,
			Run: func(t *T) { nsLastPIDContrast(t) },
		},
	)
}

func exclusive(cs ...Case) []Case {
	for i := range cs {
		cs[i].Exclusive = true
	}
	return cs
}

// cloneSetTID makes a raw clone3 call with set_tid from the current thread
// and leaves the child unreaped.
func cloneSetTID(tid []int32) (int, unix.Errno) {
	// exit_signal 0, as T.Clone's children: no SIGCHLD to handle.
	a := clone3.Args{Flags: clone3.ChildFlags, SetTID: clone3.PtrTo(tid), SetTIDSize: uint64(len(tid))}
	pid, e := clone3.Call(&a, clone3.SizeVer1, nil)
	runtime.KeepAlive(tid)
	return pid, e
}

// parallel runs f(0..n-1) on n locked threads released at the same moment.
func parallel(n int, f func(i int)) {
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			defer done.Done()
			ready.Done()
			<-start
			f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
}

// raceFor lets every worker ask for p at once. The winner's child stays a
// zombie (holding p) until all workers are done, so a late worker cannot
// win a second time.
func raceFor(t *T, p int32) (ok, eexist int, other string) {
	pids := make([]int, raceWorkers)
	errs := make([]unix.Errno, raceWorkers)
	parallel(raceWorkers, func(i int) { pids[i], errs[i] = cloneSetTID([]int32{p}) })
	for i := range pids {
		switch {
		case errs[i] == unix.EEXIST:
			eexist++
		case errs[i] != 0:
			other += fmt.Sprintf(", worker %d: %s", i, ErrnoName(errs[i]))
		default:
			ok++
			if pids[i] != int(p) {
				other += fmt.Sprintf(", worker %d got PID %d not %d", i, pids[i], p)
			}
			if err := clone3.WaitExit(pids[i]); err != nil {
				t.Fatalf("reap: %v", err)
			}
		}
	}
	return ok, eexist, other
}

// nsLastPIDContrast runs the same "get PID P" task both ways while another
// thread forks continuously.
func nsLastPIDContrast(t *T) {
	var stop atomic.Bool
	var noise sync.WaitGroup
	noise.Add(1)
	go func() {
		defer noise.Done()
		runtime.LockOSThread()
		for !stop.Load() {
			a := clone3.Args{Flags: clone3.ChildFlags}
			if pid, e := clone3.Call(&a, clone3.SizeVer0, nil); e == 0 {
				clone3.WaitExit(pid)
			}
		}
	}()
	defer func() { stop.Store(true); noise.Wait() }()

	lastPIDMiss := 0
	for i := 0; i < lastPIDRuns; i++ {
		p := t.Free(1)[0]
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(int(p-1))), 0); err != nil {
			t.Fatalf("write ns_last_pid: %v", err)
		}
		a := clone3.Args{Flags: clone3.ChildFlags}
		pid, e := clone3.Call(&a, clone3.SizeVer0, nil)
		if e != 0 {
			t.Fatalf("plain clone3: %v", e)
		}
		if pid != int(p) {
			lastPIDMiss++
		}
		clone3.WaitExit(pid)
	}
	setTIDWrong, setTIDBusy := 0, 0
	for i := 0; i < lastPIDRuns; i++ {
		p := t.Free(1)[0]
		// The noise's next PID is just above p: it moves away from p and
		// cannot wrap the whole range back to it during one call, so p is
		// free when set_tid asks for it and EEXIST would be spurious.
		if err := os.WriteFile("/proc/sys/kernel/ns_last_pid", []byte(strconv.Itoa(int(p))), 0); err != nil {
			t.Fatalf("write ns_last_pid: %v", err)
		}
		pid, e := cloneSetTID([]int32{p})
		switch {
		case e == unix.EEXIST:
			setTIDBusy++
		case e != 0:
			t.Fatalf("clone3 with set_tid [%d]: %s", p, ErrnoName(e))
		default:
			if pid != int(p) {
				setTIDWrong++
			}
			clone3.WaitExit(pid)
		}
	}
	t.Infof("ns_last_pid route missed the PID in %d of %d tries under fork pressure", lastPIDMiss, lastPIDRuns)
	want := result.Answer{Note: fmt.Sprintf("set_tid gave the PID asked for %d times of %d (0 wrong PIDs, 0 EEXIST)", lastPIDRuns, lastPIDRuns)}
	t.Check(want, result.Answer{Note: fmt.Sprintf("set_tid gave the PID asked for %d times of %d (%d wrong PIDs, %d EEXIST)", lastPIDRuns-setTIDWrong-setTIDBusy, lastPIDRuns, setTIDWrong, setTIDBusy)})
}
