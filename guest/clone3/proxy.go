//go:build linux && (amd64 || arm64)

package clone3

import (
	"fmt"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A Proxy is a process that makes system calls on the agent's behalf from
// where the agent itself cannot be: inside nested PID and user namespaces
// and under other credentials. It is created by clone3 with CLONE_VM and
// CLONE_FILES, so it shares the agent's memory and file descriptors, but it
// is a process of its own, with its own namespaces and credentials, that
// runs a dozen instructions of assembly (proxy_amd64.s) and never Go code.
//
// This replaces re-executing the agent for every namespace level: a Go
// binary's start-up costs tens of milliseconds under TCG, a proxy's one
// clone3 call. Requests and answers travel through a block of shared
// memory guarded by a futex.
type Proxy struct {
	mem []byte // mmap'd: the block, then the (unused) stack
	b   *block
	// PID is the proxy's PID in its creator's PID namespace.
	PID    int
	pidfd  int
	parent *Proxy
	// timeout bounds one request: a proxy that does not answer is stuck
	// in the kernel, which is the case's error, not the agent's hang.
	// Proxies it spawns inherit it.
	timeout time.Duration
	// dead is set by Kill: requests to a killed proxy fail at once
	// instead of waiting for the timeout.
	dead atomic.Bool
	// mu guards pidfd: Kill and Close may race (a case timing out just as
	// its body ends), and a closed pidfd number is soon reused by another
	// case's proxy in the shared descriptor table.
	mu sync.Mutex
}

// ErrnoProxy is what Syscall and Clone3 return when the proxy itself
// failed (killed, or no answer within ProxyTimeout): no kernel answer
// uses it, so callers can tell a broken set-up from a verdict.
const ErrnoProxy = unix.Errno(4095)

// block is the request slot shared with the proxy; proxy_amd64.s knows its
// layout.
type block struct {
	state  uint32 // 0 idle, 1 request posted, 2 answered
	_      uint32
	kind   uint64 // kindSyscall, kindFork, kindProxy
	nr     uint64
	args   [6]uint64
	ret    int64
	child  uint64 // kindProxy: the new proxy's block
	tidOut uint64 // kindFork: where a CLONE_VM child stores gettid()
}

const (
	kindSyscall = 0
	kindFork    = 1
	kindProxy   = 2
)

const (
	stateIdle     = 0
	statePosted   = 1
	stateAnswered = 2
)

// proxyMem is the size of a proxy's mapping: the block and a stack. The
// proxy itself never touches its stack; the kernel needs one only to
// deliver a signal, and all signals are blocked in proxies.
const proxyMem = 16 << 10

//go:noescape
func startProxy(args unsafe.Pointer, size uintptr, b unsafe.Pointer) int64

// freeMem holds the mappings of proxies known to be gone, for reuse: a
// deep chain needs dozens, and mmap is a system call.
var freeMem = make(chan []byte, 64)

// newProxyMem returns a zeroed mapping for a proxy. Private memory is
// enough: proxies share the agent's address space (CLONE_VM), and the
// children they fork never read it.
func newProxyMem() ([]byte, *block, error) {
	var mem []byte
	select {
	case mem = <-freeMem:
		clear(mem[:4096])
	default:
		var err error
		mem, err = unix.Mmap(-1, 0, proxyMem, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
		if err != nil {
			return nil, nil, fmt.Errorf("mmap proxy: %w", err)
		}
	}
	return mem, (*block)(unsafe.Pointer(&mem[0])), nil
}

func releaseMem(mem []byte) {
	select {
	case freeMem <- mem:
	default:
		unix.Munmap(mem)
	}
}

// proxyArgs are the clone3 arguments of a new proxy. exit_signal is 0: no
// SIGCHLD for its parent; waits use __WALL.
func proxyArgs(flags uint64, mem []byte, pidfd *int32) Args {
	return Args{
		Flags:      flags | unix.CLONE_VM | unix.CLONE_FILES | unix.CLONE_PIDFD,
		PidFD:      uint64(uintptr(unsafe.Pointer(pidfd))),
		Stack:      uint64(uintptr(unsafe.Pointer(&mem[0]))) + 4096,
		StackSize:  uint64(len(mem) - 4096),
		ExitSignal: 0,
	}
}

// StartProxy creates a proxy as a child of the calling process, with
// clone flags such as CLONE_NEWPID or CLONE_NEWUSER added to the ones a
// proxy always has. A request that takes longer than timeout kills the
// proxy and fails with ErrnoProxy; callers keep it below their case's
// limit, so that the body can still report the stuck call.
func StartProxy(flags uint64, timeout time.Duration) (*Proxy, error) {
	mem, b, err := newProxyMem()
	if err != nil {
		return nil, err
	}
	pidfd := new(int32)
	*pidfd = -1
	a := proxyArgs(flags, mem, pidfd)
	// The proxy inherits the signal mask of the thread that creates it:
	// with every signal blocked, no Go signal handler can ever run on it.
	restore := blockSignals()
	r := startProxy(unsafe.Pointer(&a), SizeVer1, unsafe.Pointer(b))
	restore()
	runtime.KeepAlive(pidfd)
	if r < 0 {
		releaseMem(mem)
		return nil, fmt.Errorf("clone3 proxy: %w", unix.Errno(-r))
	}
	return &Proxy{mem: mem, b: b, PID: int(r), pidfd: int(*pidfd), timeout: timeout}, nil
}

// GPID returns p's PID in the initial PID namespace (the one the agent
// and its /proc live in).
func (p *Proxy) GPID() (int, error) {
	if p.parent == nil {
		return p.PID, nil
	}
	ns, err := fdinfoNSpid(p.pidfd)
	if err != nil {
		return 0, err
	}
	return ns[0], nil
}

// Spawn asks p to create a proxy child of its own with the extra clone
// flags: the way to go one PID namespace deeper.
func (p *Proxy) Spawn(flags uint64) (*Proxy, error) {
	return p.SpawnSetTID(flags, nil)
}

// SpawnSetTID is Spawn with set_tid: the new proxy gets the PIDs given
// (innermost first), so that a case can create a process that stays alive
// at chosen PIDs, such as the init of a namespace made by unshare.
func (p *Proxy) SpawnSetTID(flags uint64, setTID []int32) (*Proxy, error) {
	mem, b, err := newProxyMem()
	if err != nil {
		return nil, err
	}
	pidfd := Heap[int32]()
	*pidfd = -1
	tid := HeapInt32s(setTID)
	a := Heap[Args]()
	*a = proxyArgs(flags, mem, pidfd)
	a.SetTID, a.SetTIDSize = PtrTo(tid), uint64(len(tid))
	r, err := p.request(kindProxy, unix.SYS_CLONE3, [6]uint64{uint64(uintptr(unsafe.Pointer(a))), SizeVer1}, uint64(uintptr(unsafe.Pointer(b))), 0)
	runtime.KeepAlive(a)
	runtime.KeepAlive(pidfd)
	runtime.KeepAlive(tid)
	if err != nil {
		return nil, err // the proxy may be stuck in clone3: keep its memory
	}
	if r < 0 {
		releaseMem(mem)
		return nil, fmt.Errorf("clone3 proxy: %w", unix.Errno(-r))
	}
	return &Proxy{mem: mem, b: b, PID: int(r), pidfd: int(*pidfd), parent: p, timeout: p.timeout}, nil
}

// A Thread is a proxy that runs as a thread of another proxy's thread
// group, created with set_tid. It stays alive until Exit, so its TIDs can
// be read from /proc and it can be asked for its own gettid.
type Thread struct {
	*Proxy
	// ParentTID is what CLONE_PARENT_SETTID stored: the TID in the
	// creating proxy's PID namespace.
	ParentTID int32
	ctid      *int32 // cleared by the kernel when the thread exits
}

// SpawnThread asks p to create a Thread with the set_tid array given. A
// refusal is the kernel's errno, with a nil Thread.
func (p *Proxy) SpawnThread(setTID []int32) (*Thread, unix.Errno, error) {
	mem, b, err := newProxyMem()
	if err != nil {
		return nil, 0, err
	}
	ctid, ptid := Heap[int32](), Heap[int32]()
	*ctid = -1 // until CLONE_CHILD_CLEARTID clears it at the thread's exit
	tid := HeapInt32s(setTID)
	a := Heap[Args]()
	*a = Args{
		Flags: unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_THREAD |
			unix.CLONE_SYSVSEM | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID,
		ChildTID:   uint64(uintptr(unsafe.Pointer(ctid))),
		ParentTID:  uint64(uintptr(unsafe.Pointer(ptid))),
		Stack:      uint64(uintptr(unsafe.Pointer(&mem[0]))) + 4096,
		StackSize:  uint64(len(mem) - 4096),
		SetTID:     PtrTo(tid),
		SetTIDSize: uint64(len(tid)),
	}
	r, err := p.request(kindProxy, unix.SYS_CLONE3, [6]uint64{uint64(uintptr(unsafe.Pointer(a))), SizeVer1}, uint64(uintptr(unsafe.Pointer(b))), 0)
	runtime.KeepAlive(a)
	runtime.KeepAlive(tid)
	if err != nil {
		return nil, 0, err
	}
	if r < 0 {
		releaseMem(mem)
		return nil, unix.Errno(-r), nil
	}
	return &Thread{Proxy: &Proxy{mem: mem, b: b, PID: int(r), pidfd: -1, parent: p, timeout: p.timeout}, ParentTID: atomic.LoadInt32(ptid), ctid: ctid}, 0, nil
}

// Exit ends the thread (an exit request it never answers) and waits until
// the kernel has cleared its child TID word, i.e. it is gone.
func (th *Thread) Exit() error {
	b := th.b
	b.kind, b.nr, b.args = kindSyscall, unix.SYS_EXIT, [6]uint64{}
	atomic.StoreUint32(&b.state, statePosted)
	futex(&b.state, futexWakeOp, 1, nil)
	deadline := time.Now().Add(th.timeout)
	for {
		v := atomic.LoadInt32(th.ctid)
		if v == 0 {
			releaseMem(th.mem)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("thread %d did not exit within %s", th.PID, th.timeout)
		}
		ts := unix.Timespec{Nsec: 10e6}
		unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(th.ctid)), futexWait, uintptr(v), uintptr(unsafe.Pointer(&ts)), 0, 0)
	}
}

// Syscall makes p call system call nr. Pointers in args must point to
// memory that stays alive (the caller's runtime.KeepAlive) and not to a
// goroutine stack, which may move: heap or mmap'd memory.
func (p *Proxy) Syscall(nr uintptr, args ...uintptr) (uintptr, unix.Errno) {
	var a [6]uint64
	for i, v := range args {
		a[i] = uint64(v)
	}
	r, err := p.request(kindSyscall, uint64(nr), a, 0, 0)
	if err != nil {
		return 0, ErrnoProxy
	}
	if r < 0 && r > -4096 {
		return 0, unix.Errno(-r)
	}
	return uintptr(r), 0
}

// Clone3 makes p call clone3(buf, size). The child stores its gettid() at
// tidOut when that is non-nil (a CLONE_VM child only) and exits at once.
func (p *Proxy) Clone3(buf unsafe.Pointer, size uintptr, tidOut *int32) (int, unix.Errno) {
	r, err := p.request(kindFork, unix.SYS_CLONE3, [6]uint64{uint64(uintptr(buf)), uint64(size)}, 0, uint64(uintptr(unsafe.Pointer(tidOut))))
	if err != nil {
		return 0, ErrnoProxy
	}
	if r < 0 && r > -4096 {
		return 0, unix.Errno(-r)
	}
	return int(r), 0
}

func (p *Proxy) request(kind, nr uint64, args [6]uint64, child, tidOut uint64) (int64, error) {
	if p.dead.Load() {
		return 0, fmt.Errorf("proxy %d was killed", p.PID)
	}
	b := p.b
	b.kind, b.nr, b.args, b.child, b.tidOut = kind, nr, args, child, tidOut
	atomic.StoreUint32(&b.state, statePosted)
	futex(&b.state, futexWakeOp, 1, nil)
	deadline := time.Now().Add(p.timeout)
	for {
		s := atomic.LoadUint32(&b.state)
		if s == stateAnswered {
			break
		}
		if time.Now().After(deadline) {
			p.Kill()
			p.awaitExit()
			return 0, fmt.Errorf("proxy %d did not answer system call %d within %s", p.PID, nr, p.timeout)
		}
		if p.dead.Load() {
			// The call may still be in the kernel, writing into memory its
			// arguments point to: return only once the proxy is gone.
			p.awaitExit()
			return 0, fmt.Errorf("proxy %d was killed during system call %d", p.PID, nr)
		}
		ts := unix.Timespec{Nsec: int64(waitSlice)}
		futex(&b.state, futexWait, s, &ts)
	}
	r := b.ret
	atomic.StoreUint32(&b.state, stateIdle)
	return r, nil
}

const futexWakeOp = 1 // FUTEX_WAKE

// waitSlice is the longest single futex wait for a proxy's answer.
const waitSlice = 5 * time.Millisecond

// futex is a raw system call: the caller keeps its P while it waits for
// a proxy. An answer takes tens of microseconds; a blocking Syscall would
// let the runtime hand the P to another thread meanwhile, waking a thread
// that finds nothing to do, on every round trip. A signal (the runtime's
// preemption signal, say) ends the wait with EINTR, and request, a Go
// function the runtime can preempt, waits again; the slices of waitSlice
// bound how long the kill and deadline checks can go unmade.
func futex(addr *uint32, op uintptr, val uint32, ts *unix.Timespec) {
	unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), op, uintptr(val), uintptr(unsafe.Pointer(ts)), 0, 0)
}

// Kill ends p with SIGKILL; killing a proxy that is the init of a PID
// namespace ends every process in it.
func (p *Proxy) Kill() {
	p.dead.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd >= 0 {
		unix.Syscall6(unix.SYS_PIDFD_SEND_SIGNAL, uintptr(p.pidfd), uintptr(unix.SIGKILL), 0, 0, 0, 0)
	}
}

// awaitExit waits (up to a few seconds) until p has exited, which its
// pidfd reports by turning readable. A process stuck uninterruptibly in
// the kernel does not exit; then the caller goes on and the memory the
// call referenced stays in use, a leak rather than a corruption as long
// as nothing else is given that memory.
func (p *Proxy) awaitExit() {
	p.mu.Lock()
	fd := p.pidfd
	p.mu.Unlock()
	if fd < 0 {
		return
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	unix.Poll(fds, 5000)
}

// Close kills p, reaps it (the caller must be its parent, as for a
// proxy from StartProxy), then releases its memory and pidfd, and those of
// the descendants given: proxies inside the PID namespace p is the init
// of, which the kernel has killed and reaped by the time p can be reaped.
func (p *Proxy) Close(inside ...*Proxy) {
	p.Kill()
	p.mu.Lock()
	closed := p.pidfd < 0
	p.mu.Unlock()
	if closed {
		return
	}
	// P_PID, not P_PIDFD: the latter needs Linux 5.4, clone3 only 5.3.
	info := Heap[unix.Siginfo]()
	var e unix.Errno
	if p.parent != nil {
		// A proxy a case spawned itself (a chain closes only its first):
		// its parent proxy reaps it.
		if err := p.parent.Wait(p.PID, info, unix.WEXITED|unix.WALL); err != nil {
			e = unix.ECHILD
		}
	} else {
		_, _, e = unix.Syscall6(unix.SYS_WAITID, unix.P_PID, uintptr(p.PID), uintptr(unsafe.Pointer(info)), unix.WEXITED|unix.WALL, 0, 0)
	}
	for _, q := range append(inside, p) {
		q.mu.Lock()
		if q.pidfd >= 0 {
			unix.Close(q.pidfd)
			q.pidfd = -1
		}
		q.mu.Unlock()
		// Memory a proxy may still be running on is never released.
		if e == 0 {
			releaseMem(q.mem)
		}
	}
}

// Wait is a WaitFunc for p's children.
func (p *Proxy) Wait(pid int, info *unix.Siginfo, options int) error {
	for {
		_, e := p.Syscall(unix.SYS_WAITID, unix.P_PID, uintptr(pid), uintptr(unsafe.Pointer(info)), uintptr(options), 0)
		runtime.KeepAlive(info)
		if e != unix.EINTR {
			if e != 0 {
				return e
			}
			return nil
		}
	}
}

// Sys makes one system call from wherever a case's calls must come from:
// the calling (locked) thread, or a Proxy.
type Sys func(nr uintptr, args ...uintptr) (uintptr, unix.Errno)

// Direct is Sys for the calling thread itself.
func Direct(nr uintptr, args ...uintptr) (uintptr, unix.Errno) {
	var a [6]uintptr
	copy(a[:], args)
	r, _, e := unix.RawSyscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5])
	return r, e
}

// Heap returns a new zero T in heap memory. What a proxy reads or writes
// must not live on a goroutine stack, which can move while the proxy works;
// a value whose address only ever becomes a uintptr could otherwise stay
// on the stack. The heap never moves.
func Heap[T any]() *T {
	return reflect.New(reflect.TypeFor[T]()).Interface().(*T)
}

// HeapInt32s copies s to the heap (see Heap). Not make: the compiler may
// put a small non-escaping make on the stack.
func HeapInt32s(s []int32) []int32 {
	if len(s) == 0 {
		return nil
	}
	out := reflect.MakeSlice(reflect.TypeFor[[]int32](), len(s), len(s)).Interface().([]int32)
	copy(out, s)
	return out
}

// HeapBytes returns n zero bytes on the heap (see Heap).
func HeapBytes(n int) []byte {
	return reflect.MakeSlice(reflect.TypeFor[[]byte](), n, n).Interface().([]byte)
}
