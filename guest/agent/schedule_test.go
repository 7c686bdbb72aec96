//go:build linux

package agent

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/result"
)

// TestRunAll: results are reported in matrix order whatever order the
// workers finish in, every case exactly once; exclusive cases run alone,
// after all the others; serial cases run on worker 0, never two at once,
// and not only after the ordinary ones.
func TestRunAll(t *testing.T) {
	var cases []matrix.Case
	for i := range 12 {
		cases = append(cases, matrix.Case{ID: string(rune('a' + i)), Exclusive: i == 3 || i == 7, Serial: i == 5 || i == 9 || i == 10})
	}
	var mu sync.Mutex
	running, runningSerial, sharedLeft, serialLeft := 0, 0, 10, 3
	var problems []string
	// Ordinary cases wait for the serial ones to finish: a scheduler that
	// held serial cases back until the ordinary ones were done would leave
	// them waiting here until the deadline. Waiting on the event, not on a
	// count of cases finished by some moment, keeps the test independent
	// of how a loaded machine schedules goroutines.
	serialDone := make(chan struct{})
	runOne := func(c matrix.Case, slot int) (result.Case, bool) {
		if !c.Exclusive && !c.Serial {
			select {
			case <-serialDone:
			case <-time.After(10 * time.Second):
				mu.Lock()
				problems = append(problems, c.ID+": the serial cases waited for the ordinary cases")
				mu.Unlock()
			}
		}
		mu.Lock()
		running++
		if c.Exclusive && (running != 1 || sharedLeft != 0) {
			problems = append(problems, c.ID+" ran beside other cases")
		}
		if c.Serial {
			runningSerial++
			if runningSerial != 1 {
				problems = append(problems, c.ID+" ran beside another serial case")
			}
			if slot != 0 {
				problems = append(problems, fmt.Sprintf("serial case %s ran on worker %d", c.ID, slot))
			}
		}
		mu.Unlock()
		// Later cases finish first, to shuffle completion order.
		time.Sleep(time.Duration(len(cases)-int(c.ID[0]-'a')) * time.Millisecond)
		mu.Lock()
		running--
		if c.Serial {
			runningSerial--
			if serialLeft--; serialLeft == 0 {
				close(serialDone)
			}
		}
		if !c.Exclusive {
			sharedLeft--
		}
		mu.Unlock()
		return result.Case{ID: c.ID, Outcome: result.Pass}, false
	}
	var order []string
	err := scheduler{jobs: 3, abandonAfter: time.Minute, runOne: runOne, report: func(r result.Case) error {
		order = append(order, r.ID)
		return nil
	}}.runAll(cases)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ""); got != "abcdefghijkl" {
		t.Errorf("reported in order %q, want matrix order", got)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// TestRunAllAbandonsStuckCase: a case that never returns is reported as a
// timeout once abandonAfter has passed, and a new worker runs the slot's
// remaining cases, serial ones included.
func TestRunAllAbandonsStuckCase(t *testing.T) {
	cases := []matrix.Case{{ID: "s1", Serial: true}, {ID: "s2", Serial: true}, {ID: "a"}, {ID: "b"}, {ID: "x", Exclusive: true}}
	var mu sync.Mutex
	prepared := map[int]int{}
	stuck := make(chan struct{})
	defer close(stuck)
	got := map[string]result.Case{}
	err := scheduler{
		jobs: 2, abandonAfter: 50 * time.Millisecond,
		prepare: func(slot int) { mu.Lock(); prepared[slot]++; mu.Unlock() },
		runOne: func(c matrix.Case, slot int) (result.Case, bool) {
			if c.ID == "s1" {
				<-stuck // does not return while the scheduler runs
			}
			return result.Case{ID: c.ID, Outcome: result.Pass}, false
		},
		report: func(r result.Case) error { got[r.ID] = r; return nil },
	}.runAll(cases)
	if err != nil {
		t.Fatal(err)
	}
	if r := got["s1"]; r.Outcome != result.Error || !strings.Contains(r.Reason, "abandoned") {
		t.Errorf("stuck case: %s (%s), want an abandonment error", r.Outcome, r.Reason)
	}
	for _, id := range []string{"s2", "a", "b", "x"} {
		if got[id].Outcome != result.Pass {
			t.Errorf("%s: %q, want pass after the stuck case was abandoned", id, got[id].Outcome)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if prepared[0] < 2 {
		t.Errorf("slot 0 prepared %d workers, want a replacement for the stuck one", prepared[0])
	}
}

// TestRunAllRetiresWorker: a case that retires its worker's thread is
// followed on that slot by a new worker on a new thread, which prepare
// readies again.
func TestRunAllRetiresWorker(t *testing.T) {
	cases := []matrix.Case{{ID: "a", Serial: true}, {ID: "poison", Serial: true}, {ID: "b", Serial: true}}
	tids := map[string]int{}
	var mu sync.Mutex
	prepares := 0
	err := scheduler{
		jobs: 1, abandonAfter: time.Minute,
		prepare: func(int) { runtime.LockOSThread(); mu.Lock(); prepares++; mu.Unlock() },
		runOne: func(c matrix.Case, slot int) (result.Case, bool) {
			mu.Lock()
			tids[c.ID] = unix.Gettid()
			mu.Unlock()
			return result.Case{ID: c.ID, Outcome: result.Pass}, c.ID == "poison"
		},
		report: func(result.Case) error { return nil },
	}.runAll(cases)
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if tids["a"] != tids["poison"] {
		t.Errorf("a and poison ran on threads %d and %d, want one worker thread", tids["a"], tids["poison"])
	}
	if tids["b"] == tids["poison"] {
		t.Errorf("b ran on thread %d after poison retired it", tids["b"])
	}
	if prepares != 2 {
		t.Errorf("prepare ran %d times, want 2 (the first worker and its replacement)", prepares)
	}
}
