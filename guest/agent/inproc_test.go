//go:build linux

package agent

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/result"
)

// These tests build real proxy chains on the host, so they need root (and
// a kernel with user and PID namespaces); the guest runs the same code.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

func status(t *testing.T, p *clone3.Proxy, field string) string {
	t.Helper()
	g, err := p.GPID()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/" + itoa(g) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.Join(strings.Fields(v), " ")
		}
	}
	t.Fatalf("no %s in status", field)
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }

func ownCapEff(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func TestBuildChain(t *testing.T) {
	needRoot(t)
	user := matrix.Level{UserNS: true}
	pid := matrix.Level{}
	for _, tc := range []struct {
		name    string
		setup   matrix.Setup
		proxies int
		depth   int    // levels below the initial PID namespace
		uid     string // Uid line, as seen from the initial namespace
		capEff  string
	}{
		{"one level", matrix.Setup{Levels: []matrix.Level{pid}}, 1, 1, "0 0 0 0", "all"},
		{"three levels", matrix.Setup{Levels: []matrix.Level{pid, pid, pid}}, 3, 3, "0 0 0 0", "all"},
		{"user level maps root to 100000", matrix.Setup{Levels: []matrix.Level{user}}, 1, 1, "100000 100000 100000 100000", "full"},
		{"nested user levels", matrix.Setup{Levels: []matrix.Level{user, user}}, 2, 2, "100000 100000 100000 100000", "full"},
		{"unprivileged uid", matrix.Setup{UID: 65534}, 1, 0, "65534 65534 65534 65534", "0000000000000000"},
		{"uid with CAP_SYS_ADMIN", matrix.Setup{UID: 65534, AmbientCaps: []matrix.Cap{matrix.CapSysAdmin}}, 1, 0, "65534 65534 65534 65534", "0000000000200000"},
		{"root keeping only CAP_CHECKPOINT_RESTORE", matrix.Setup{KeepOnlyCaps: []matrix.Cap{matrix.CapCheckpointRestore}}, 1, 0, "0 0 0 0", "0000010000000000"},
		{"uid inside a user level", matrix.Setup{Levels: []matrix.Level{user}, UID: 1000}, 2, 1, "101000 101000 101000 101000", "0000000000000000"},
		{"uid inside nested user levels", matrix.Setup{Levels: []matrix.Level{pid, user, user}, UID: 7}, 4, 3, "100007 100007 100007 100007", "0000000000000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := buildChain(tc.setup, time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if len(c.proxies) != tc.proxies {
				t.Errorf("%d proxies, want %d", len(c.proxies), tc.proxies)
			}
			p := c.Inner()
			if got := len(strings.Fields(status(t, p, "NSpid"))) - 1; got != tc.depth {
				t.Errorf("body at depth %d, want %d", got, tc.depth)
			}
			if got := status(t, p, "Uid"); got != tc.uid {
				t.Errorf("Uid %q, want %q", got, tc.uid)
			}
			want := tc.capEff
			switch want {
			case "all": // whatever this (possibly confined) test process holds
				want = ownCapEff(t)
			case "full": // every capability: root of a new user namespace
				b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
				if err != nil {
					t.Fatal(err)
				}
				last, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				want = fmt.Sprintf("%016x", uint64(1)<<(last+1)-1)
			}
			if got := status(t, p, "CapEff"); got != want {
				t.Errorf("CapEff %s, want %s", got, want)
			}
			// The body's clone3 comes from the innermost proxy: its child is
			// at the same depth.
			pidfd := clone3.Heap[int32]()
			a := clone3.Heap[clone3.Args]()
			*a = clone3.Args{Flags: unix.CLONE_PIDFD | clone3.ChildFlags, PidFD: uint64(uintptr(unsafe.Pointer(pidfd)))}
			child, e := p.Clone3(unsafe.Pointer(a), clone3.SizeVer0, nil)
			if e != 0 {
				t.Fatalf("clone3 from the chain: %v", e)
			}
			got, err := clone3.ReapPidfdWith(p.Wait, child, int(*pidfd), true)
			unix.Close(int(*pidfd))
			if err != nil || len(got.NSpid) != tc.depth+1 {
				t.Errorf("child NSpid %v (%v), want %d levels", got.NSpid, err, tc.depth+1)
			}
		})
	}
}

// TestParallelIDChanges: one case switching credentials must not make
// another case's nested user namespace unmappable (the shared memory map's
// dumpable flag).
func TestParallelIDChanges(t *testing.T) {
	needRoot(t)
	user := matrix.Level{UserNS: true}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if c, err := buildChain(matrix.Setup{UID: 65534}, time.Minute); err == nil {
				c.Close()
			}
		}
	}()
	for i := range 100 {
		c, err := buildChain(matrix.Setup{Levels: []matrix.Level{user, user}}, time.Minute)
		if err != nil {
			t.Errorf("nested user chain %d beside credential changes: %v", i, err)
			break
		}
		c.Close()
	}
	close(stop)
	<-done
}

// TestRunCaseTimeout: a case whose time is up while its 31-level chain is
// being built (here: from the start, so that the outcome does not depend on
// how fast this machine builds chains) is reported as a timeout, and its
// body never runs.
func TestRunCaseTimeout(t *testing.T) {
	needRoot(t)
	c, ok := matrix.Lookup("set_tid/nested/max-depth-32-levels")
	if !ok {
		t.Fatal("no 32-level case")
	}
	ran := make(chan struct{}, 1)
	c.Run = func(*matrix.T) { ran <- struct{}{} }
	all := matrix.Clone3 | matrix.SetTID | matrix.PIDNS | matrix.UserNS | matrix.CheckpointRestoreCap | matrix.ClearSighand
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	r, _ := runCaseInProcess(ctx, c, all, time.Minute, 0)
	if r.Outcome != "error" || !strings.Contains(r.Reason, "timeout") {
		t.Errorf("result %s (%s), want a timeout error", r.Outcome, r.Reason)
	}
	select {
	case <-ran:
		t.Error("the body ran after its case timed out")
	case <-time.After(200 * time.Millisecond):
	}
}

// TestWorkerThreads: with the proxy runner, a slot's cases run on its
// worker's thread, pinned to one CPU when there are several, until a body
// changes the thread (unshare of its PID namespace for children): the next
// case then runs on a new thread.
func TestWorkerThreads(t *testing.T) {
	needRoot(t)
	all := matrix.Clone3 | matrix.SetTID | matrix.PIDNS | matrix.UserNS | matrix.CheckpointRestoreCap | matrix.ClearSighand
	type seen struct{ tid, cpus int }
	var mu sync.Mutex
	got := map[string]seen{}
	probe := func(id string) matrix.Case {
		return matrix.Case{ID: id, Needs: matrix.Clone3, Serial: true, Run: func(t *matrix.T) {
			var set unix.CPUSet
			unix.SchedGetaffinity(0, &set)
			mu.Lock()
			got[id] = seen{unix.Gettid(), set.Count()}
			mu.Unlock()
			t.Check(matrix.Errno(unix.EINVAL), matrix.Errno(unix.EINVAL))
		}}
	}
	unshare, ok := matrix.Lookup("set_tid/nested/unshare-then-not-init")
	if !ok {
		t.Fatal("no unshare case")
	}
	unshare.Serial = true
	cases := []matrix.Case{probe("first"), probe("second"), unshare, probe("after")}
	results := map[string]result.Case{}
	err := scheduler{
		jobs: 1, abandonAfter: time.Minute, prepare: prepareWorker,
		runOne: func(c matrix.Case, slot int) (result.Case, bool) {
			return runCaseInProcess(t.Context(), c, all, time.Minute, slot)
		},
		report: func(r result.Case) error { results[r.ID] = r; return nil },
	}.runAll(cases)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if r := results[c.ID]; r.Outcome != result.Pass {
			t.Fatalf("%s: %s (%s)", c.ID, r.Outcome, r.Reason)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if got["first"].tid != got["second"].tid {
		t.Errorf("second case ran on thread %d, the first on %d: want the worker's thread", got["second"].tid, got["first"].tid)
	}
	if runtime.NumCPU() > 1 && got["first"].cpus != 1 {
		t.Errorf("the worker thread may run on %d CPUs, want 1", got["first"].cpus)
	}
	if got["after"].tid == got["first"].tid {
		t.Errorf("a case ran on thread %d after a body unshared its PID namespace there", got["after"].tid)
	}
}
