//go:build linux

package agent

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/result"
)

// scheduler runs the matrix's cases on worker goroutines, one per slot,
// and reports the results in matrix order.
//
// A case runs on its worker's own goroutine, which prepare may lock to a
// pinned thread: handing each case to another thread and back costs two
// thread switches, a millisecond of guest time under TCG. A case that
// neither ends nor gives up within abandonAfter is abandoned: it is
// reported as a timeout error and a new worker takes the slot's remaining
// cases; the stuck one, should it ever return, leaves quietly and takes
// its thread with it. So a hang inside one case is that case's error and
// the rest still run.
type scheduler struct {
	jobs         int
	abandonAfter time.Duration
	// prepare runs on each new worker's goroutine before its first case.
	prepare func(slot int)
	// runOne decides a case. retire says the worker's thread must not run
	// another case (the body changed it): a new worker takes over.
	runOne func(c matrix.Case, slot int) (r result.Case, retire bool)
	// report gets each result in matrix order, as soon as it and every
	// result before it are in.
	report func(result.Case) error
}

// reportEvery is how often the reporter looks for results while cases run.
const reportEvery = 10 * time.Millisecond

// casesDone is when the last case finished (Unix nanoseconds); the
// results may still be on their way out through the result channel.
var casesDone atomic.Int64

// runAll runs the cases. Serial cases run first, one after another, on
// worker 0, which then joins the others on the ordinary cases; exclusive
// cases run one at a time after all the others.
func (sc scheduler) runAll(cases []matrix.Case) error {
	results := make([]chan result.Case, len(cases))
	for i := range results {
		results[i] = make(chan result.Case, 1)
	}
	delivered := make([]atomic.Bool, len(cases))
	var pending sync.WaitGroup // cases of the current phase without a result
	deliver := func(i int, r result.Case) {
		if delivered[i].CompareAndSwap(false, true) {
			results[i] <- r
			pending.Done()
		}
	}
	var serial, shared, exclusive []int
	for i, c := range cases {
		switch {
		case c.Exclusive:
			exclusive = append(exclusive, i)
		case c.Serial:
			serial = append(serial, i)
		default:
			shared = append(shared, i)
		}
	}
	// The reporter writes results in matrix order beside the workers: a
	// port channel is slow under TCG, and the cases should not wait for
	// it. It looks for ready results every reportEvery, and at once when
	// every case is done, rather than being woken for each result: under
	// TCG a wake-up is a thread switch, costlier than most cases' work.
	reported := make(chan error, 1)
	allDone := make(chan struct{})
	go func() {
		tick := time.NewTicker(reportEvery)
		defer tick.Stop()
		next := 0
		for next < len(results) {
		ready:
			for next < len(results) {
				select {
				case r := <-results[next]:
					if err := sc.report(r); err != nil {
						reported <- fmt.Errorf("write result of %s: %w", cases[next].ID, err)
						return
					}
					next++
				default:
					break ready
				}
			}
			select {
			case <-tick.C:
			case <-allDone: // every result is in: drain them now
			}
		}
		reported <- nil
	}()

	// worker starts a goroutine that runs first's cases, then queue's.
	var worker func(slot int, first []int, queue <-chan int)
	worker = func(slot int, first []int, queue <-chan int) {
		go func() {
			if sc.prepare != nil {
				sc.prepare(slot)
			}
			for {
				var i int
				if len(first) > 0 {
					i, first = first[0], first[1:]
				} else {
					var ok bool
					if i, ok = <-queue; !ok {
						return
					}
				}
				rest := first
				watchdog := time.AfterFunc(sc.abandonAfter, func() {
					deliver(i, result.Case{
						ID: cases[i].ID, Outcome: result.Error,
						Reason:     fmt.Sprintf("timeout: case did not end within %s; its worker was abandoned", sc.abandonAfter),
						DurationMS: float64(sc.abandonAfter.Microseconds()) / 1000,
					})
					worker(slot, rest, queue)
				})
				r, retire := sc.runOne(cases[i], slot)
				if !watchdog.Stop() {
					return // abandoned, and replaced
				}
				deliver(i, r)
				if retire {
					worker(slot, first, queue)
					return
				}
			}
		}()
	}

	pending.Add(len(serial) + len(shared))
	// Filled before the workers start: taking a case never waits for
	// another goroutine.
	queue := make(chan int, len(shared))
	for _, i := range shared {
		queue <- i
	}
	close(queue)
	worker(0, serial, queue)
	for slot := 1; slot < max(sc.jobs, 1); slot++ {
		worker(slot, nil, queue)
	}
	pending.Wait()
	// Exclusive cases run one at a time with nothing beside them.
	if len(exclusive) > 0 {
		pending.Add(len(exclusive))
		none := make(chan int)
		close(none)
		worker(0, exclusive, none)
		pending.Wait()
	}
	casesDone.Store(time.Now().UnixNano())
	close(allDone)
	return <-reported
}
