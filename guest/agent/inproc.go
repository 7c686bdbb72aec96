//go:build linux

package agent

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/result"
)

// The runners (contract.Runner). The proxy runner (the default) runs each
// case's body in the agent and builds its namespaces and credentials out of
// proxies (clone3.Proxy): processes sharing the agent's memory that make the
// body's system calls from inside them. The exec runner re-executes the
// agent once per namespace level instead; it is slower by a Go start-up per
// level (tens of milliseconds under TCG) and kept as a cross-check.

// chain is the proxies a case's setup needs, outermost first; the last one
// is where the body's calls come from.
type chain struct {
	// timeout is each proxy's request limit (clone3.StartProxy).
	timeout   time.Duration
	mu        sync.Mutex
	proxies   []*clone3.Proxy
	cancelled bool
}

// proxyTimeout is the request limit of a case's proxies: half its time, so
// that a call stuck in the kernel is reported by the body, as the case's
// answer, inside the case's time.
func proxyTimeout(caseTimeout time.Duration) time.Duration { return caseTimeout / 2 }

// Cancel stops a chain being built (at its next level) and kills every
// proxy it has, without releasing anything: the body may still be using
// their memory. The body's own deferred Close releases them.
func (c *chain) Cancel() {
	c.mu.Lock()
	c.cancelled = true
	ps := slices.Clone(c.proxies)
	c.mu.Unlock()
	for _, p := range ps {
		p.Kill()
	}
}

// Inner returns the proxy the body calls from.
func (c *chain) Inner() *clone3.Proxy {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.proxies[len(c.proxies)-1]
}

// Close kills the chain. Every proxy after the first is either inside the
// PID namespace the first one is the init of, or (for a setup without
// levels) there is only the first: killing and reaping it ends them all.
// The kernel kills the rest itself, and the first cannot be reaped before
// they are gone, so they need no signal of their own.
func (c *chain) Close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	ps := slices.Clone(c.proxies)
	c.mu.Unlock()
	if len(ps) == 0 {
		return
	}
	ps[0].Close(ps[1:]...)
}

func (c *chain) spawn(flags uint64) (*clone3.Proxy, error) {
	c.mu.Lock()
	cancelled, n := c.cancelled, len(c.proxies)
	c.mu.Unlock()
	if cancelled {
		return nil, errors.New("cancelled (the case timed out)")
	}
	var p *clone3.Proxy
	var err error
	if n == 0 {
		p, err = clone3.StartProxy(flags, c.timeout)
	} else {
		p, err = c.Inner().Spawn(flags)
	}
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.proxies = append(c.proxies, p)
	cancelled = c.cancelled
	c.mu.Unlock()
	if cancelled {
		p.Kill() // Cancel ran before this proxy was listed
	}
	return p, nil
}

// needsChain reports whether a setup changes anything the body's own
// thread should not: namespaces or credentials.
func needsChain(s matrix.Setup) bool {
	return len(s.Levels) > 0 || s.UID != 0 || len(s.AmbientCaps) > 0 || len(s.KeepOnlyCaps) > 0 || len(s.DropCaps) > 0 || s.OwnProcess
}

// buildChain builds a case's setup out of proxies, as hopAttrs does out of
// re-executions: one proxy per PID namespace level (with a user namespace
// where the level asks for one), then one for the credentials.
func buildChain(s matrix.Setup, timeout time.Duration) (*chain, error) {
	c := &chain{timeout: timeout}
	if err := c.Build(s); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Build adds to an empty chain the proxies of setup s (see buildChain).
// On error the proxies built so far stay in the chain for Close.
func (c *chain) Build(s matrix.Setup) error {
	inUserNS := false
	for i, l := range s.Levels {
		flags := uint64(unix.CLONE_NEWPID)
		if l.UserNS {
			flags |= unix.CLONE_NEWUSER
		}
		parent := clone3.Sys(clone3.Direct)
		if i > 0 {
			parent = c.Inner().Syscall
		}
		p, err := c.spawn(flags)
		if err != nil {
			return fmt.Errorf("level %d: %w", i+1, err)
		}
		if l.UserNS {
			// The first user namespace maps its root to an ID that is not
			// root outside, like a container's; nested ones map within it.
			host := 100000
			if inUserNS {
				host = 0
			}
			gpid, err := p.GPID()
			if err == nil {
				err = mapIDs(parent, gpid, host)
			}
			if err != nil {
				return fmt.Errorf("level %d: %w", i+1, err)
			}
			// The proxy still has the creator's (now unmapped) IDs; become
			// root of the new namespace.
			if err := setIDs(p.Syscall, 0, false); err != nil {
				return fmt.Errorf("level %d: %w", i+1, err)
			}
			inUserNS = true
		}
	}
	// The body runs in the innermost level, as PID 1 of it, unless the
	// credentials change: then in a child of its own, as the exec runner's
	// credential hop does.
	if len(s.Levels) == 0 || s.UID != 0 || len(s.AmbientCaps) > 0 {
		if _, err := c.spawn(0); err != nil {
			return fmt.Errorf("credentials: %w", err)
		}
	}
	p := c.Inner()
	if s.UID != 0 || len(s.AmbientCaps) > 0 {
		if len(s.AmbientCaps) > 0 {
			if _, e := p.Syscall(unix.SYS_PRCTL, unix.PR_SET_KEEPCAPS, 1); e != 0 {
				return fmt.Errorf("prctl(PR_SET_KEEPCAPS): %w", e)
			}
		}
		if err := setIDs(p.Syscall, s.UID, !inUserNS); err != nil {
			return err
		}
		if len(s.AmbientCaps) > 0 {
			if err := matrix.SetCaps(p.Syscall, s.AmbientCaps); err != nil {
				return err
			}
		}
	}
	return matrix.ApplyCaps(p.Syscall, s.KeepOnlyCaps, s.DropCaps)
}

// mapIDs writes the uid_map and gid_map of process gpid (its number in the
// initial PID namespace, which is the one /proc shows) from the parent of
// its user namespace, the only place allowed to.
func mapIDs(parent clone3.Sys, gpid, host int) error {
	idsMu.RLock()
	defer idsMu.RUnlock()
	line := fmt.Appendf(nil, "0 %d 65536\n", host)
	for _, f := range []string{"uid_map", "gid_map"} {
		path := fmt.Sprintf("/proc/%d/%s", gpid, f)
		if err := writeVia(parent, path, line); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// writeVia writes data to path with open/write/close made by sys.
func writeVia(sys clone3.Sys, path string, data []byte) error {
	p := clone3.HeapBytes(len(path) + 1)
	copy(p, path)
	buf := clone3.HeapBytes(len(data))
	copy(buf, data)
	atFDCWD := unix.AT_FDCWD // -100: a variable, so the conversion wraps
	fd, e := sys(unix.SYS_OPENAT, uintptr(atFDCWD), uintptr(unsafe.Pointer(&p[0])), unix.O_WRONLY|unix.O_CLOEXEC)
	if e != 0 {
		return e
	}
	defer sys(unix.SYS_CLOSE, fd)
	n, e := sys(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)))
	runtime.KeepAlive(p)
	runtime.KeepAlive(buf)
	if e != 0 {
		return e
	}
	if int(n) != len(buf) {
		return fmt.Errorf("short write (%d of %d bytes)", n, len(buf))
	}
	return nil
}

// idsMu orders ID changes against uid_map writes. Every proxy shares one
// memory map with the agent, and the map's dumpable flag, which an ID
// change clears until setIDs sets it back: meanwhile every proxy's
// /proc/PID files belong to root, and a proxy writing its child's uid_map
// (in a parallel case) would be refused.
var idsMu sync.RWMutex

// setIDs switches the task behind sys to uid (and the same gid), dropping
// supplementary groups first where that is allowed (not inside a user
// namespace created without setgroups permission).
func setIDs(sys clone3.Sys, uid int, dropGroups bool) error {
	idsMu.Lock()
	defer idsMu.Unlock()
	// Changing IDs clears the dumpable flag, which lives in the memory
	// map that every proxy shares with the agent; /proc/PID files of a
	// non-dumpable process belong to root, so a proxy could no longer
	// write its child's uid_map. Nothing here is secret: set it back,
	// whatever happens below.
	defer sys(unix.SYS_PRCTL, unix.PR_SET_DUMPABLE, 1)
	if dropGroups {
		if _, e := sys(unix.SYS_SETGROUPS, 0, 0); e != 0 {
			return fmt.Errorf("setgroups: %w", e)
		}
	}
	if _, e := sys(unix.SYS_SETRESGID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresgid(%d): %w", uid, e)
	}
	if _, e := sys(unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), uintptr(uid)); e != 0 {
		return fmt.Errorf("setresuid(%d): %w", uid, e)
	}
	return nil
}

// stallOnce, armed by the debug switch "stall", makes the first case with
// a chain block inside its proxy, to test that a stuck case is that
// case's error and the others still run.
var stallOnce atomic.Bool

// stall blocks the body in a proxy system call that never returns in
// time: an hour's nanosleep.
func stall(t *matrix.T) {
	ts := clone3.Heap[unix.Timespec]()
	ts.Sec = 3600
	_, e := t.Sys()(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(ts)), 0)
	runtime.KeepAlive(ts)
	if e == clone3.ErrnoProxy {
		t.Fatalf("stall: the proxy did not answer within %s and was killed", t.ProxyTimeout())
	}
	t.Fatalf("stall: the proxy's sleep ended early: %v", e)
}

// setupNS adds up the time spent building proxy chains, reported by the
// agent as information.
var setupNS atomic.Int64

// runCaseInProcess decides one case with the proxy runner, on the calling
// goroutine (a worker's, locked to its thread: see prepareWorker), with
// the body's calls made by the proxies of its setup when it has one. A
// panic is the case's error. A case still running at its timeout is the
// case's error too: its chain is cancelled (a chain still being built
// stops at the next level) and its proxies are killed, which makes the
// body's pending and later calls fail at once, so the body ends. (A body
// stuck outside its proxies is the scheduler's to abandon.) retire
// reports that the body changed the calling thread, which must then not
// run another case.
func runCaseInProcess(ctx context.Context, c matrix.Case, feats matrix.Feature, timeout time.Duration, slot int) (r result.Case, retire bool) {
	res, runnable := gate(c, feats)
	if !runnable {
		return res, false
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ch := &chain{timeout: proxyTimeout(timeout)}
	defer context.AfterFunc(ctx, ch.Cancel)()
	timedOut := func() (result.Case, bool) {
		r := res
		r.Outcome = result.Error
		r.Reason = fmt.Sprintf("timeout: case did not finish within %s", timeout)
		r.DurationMS = float64(time.Since(start).Microseconds()) / 1000
		return r, false
	}
	if ctx.Err() != nil {
		return timedOut()
	}
	fail := func(reason string) (result.Case, bool) {
		if ctx.Err() != nil {
			return timedOut()
		}
		r := res
		r.Outcome, r.Reason = result.Error, reason
		return r, false
	}
	t, err := matrix.NewT(c, c.Setup.Depth(), slot, proxyTimeout(timeout))
	if err != nil {
		return fail("setup: " + err.Error())
	}
	if needsChain(c.Setup) {
		if stallOnce.CompareAndSwap(true, false) {
			c.Run = stall
		}
		t0 := time.Now()
		err := func() (err error) {
			defer func() {
				// RunBody recovers the body's panics; this catches the set-up's.
				if v := recover(); v != nil {
					err = fmt.Errorf("panicked: %v", v)
				}
			}()
			return ch.Build(c.Setup)
		}()
		setupNS.Add(int64(time.Since(t0)))
		// Tearing a namespace down takes the kernel milliseconds and
		// decides nothing about the case: do it in the background.
		defer func() { go ch.Close() }()
		if err != nil {
			return fail("setup: " + err.Error())
		}
		t.WithProxy(ch.Inner())
	}
	r = matrix.RunBody(c, t)
	if ctx.Err() != nil {
		r, _ = timedOut()
	}
	// A body that changed its own thread (its PID namespace for children)
	// leaves it unfit for the next case.
	return r, t.Poisoned()
}

// prepareWorker readies a worker's goroutine for the cases it will run:
// locked to its OS thread (bodies make system calls that must come from
// one thread, and proxies are that thread's children), and that thread
// pinned to the slot's CPU. The case's proxies and children inherit the
// CPU: a futex wake-up or a child's exit then never waits for a remote
// CPU to be kicked awake, which under TCG costs a few hundred
// microseconds on every round trip. The goroutine never unlocks: when it
// ends, the runtime ends the thread too, with whatever a body left on it.
func prepareWorker(slot int) {
	runtime.LockOSThread()
	pinToSlot(slot)
}

// pinToSlot restricts the calling thread to one CPU chosen by the worker
// slot, when there are several. Pinning is an optimisation: a kernel that
// refuses it only makes the cases slower.
func pinToSlot(slot int) {
	n := runtime.NumCPU()
	if n < 2 {
		return
	}
	var set unix.CPUSet
	set.Set(slot % n)
	unix.SchedSetaffinity(0, &set)
}
