//go:build linux && (amd64 || arm64)

// Package clone3 is a thin, allocation-free binding of the clone3(2) system
// call, as the set_tid matrix needs it: a caller-chosen struct size, raw
// pointers (so that invalid ones can be passed on purpose), and children that
// never run Go code.
//
// Go's runtime is multithreaded, so a child created by a raw clone3 inherits a
// copy of an address space whose locks may be held by threads that do not
// exist in the child. The child therefore runs only a few instructions of
// assembly (see clone3_amd64.s): it optionally stores its own TID and exits.
// Everything the matrix wants to know about the child (its PIDs in each
// namespace) is read by the parent from /proc while the child is a zombie.
package clone3

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Sizes of struct clone_args as the kernel's uapi defines them. Each version
// appended fields; the kernel accepts any size between VER0 and PAGE_SIZE as
// long as bytes beyond what it knows are zero.
const (
	SizeVer0 = 64 // flags .. tls (Linux 5.3)
	SizeVer1 = 80 // + set_tid, set_tid_size (Linux 5.5)
	SizeVer2 = 88 // + cgroup (Linux 5.7)
)

// MaxPIDNSLevel is the kernel's MAX_PID_NS_LEVEL: the deepest PID namespace
// level and so the longest set_tid array clone3 accepts.
const MaxPIDNSLevel = 32

// Args mirrors struct clone_args (VER2 layout). All fields are raw u64s, as
// in the uapi header, so tests can pass deliberately invalid values.
type Args struct {
	Flags      uint64
	PidFD      uint64
	ChildTID   uint64
	ParentTID  uint64
	ExitSignal uint64
	Stack      uint64
	StackSize  uint64
	TLS        uint64
	SetTID     uint64
	SetTIDSize uint64
	Cgroup     uint64
}

// ChildFlags are added to the flags of the children the matrix creates.
// A child sharing the caller's memory costs one task, where a fork copies
// the page tables of the whole Go agent, which under TCG takes several
// milliseconds. Sharing the descriptor table spares copying it, and
// closing every copied descriptor again when the child exits: the agent's
// table holds a pidfd for each live proxy, dozens during a deep case.
// set_tid's rules (argument checks, PID allocation and permission at
// every level) depend on neither, and no flag check involves
// CLONE_FILES; the child runs a few instructions of assembly, never
// touching memory but its TID slot.
const ChildFlags = unix.CLONE_VM | unix.CLONE_FILES

// ErrUnsupported marks answers meaning "this kernel lacks the feature".
var ErrUnsupported = errors.New("feature not supported by this kernel")

// rawClone3 is implemented in assembly. It calls clone3(args, size); in the
// child it stores gettid() to *tidOut when tidOut is non-nil and then calls
// exit(0) without touching the stack. It returns the raw syscall result:
// the child's PID/TID, or -errno.
//
//go:noescape
func rawClone3(args unsafe.Pointer, size uintptr, tidOut *int32) int64

// Raw calls clone3 with an arbitrary buffer and size. buf may be nil or
// point to fewer than size bytes only when the test wants EFAULT-like
// behaviour; callers normally pass a buffer at least size bytes long.
// It returns the new child's PID in the caller's PID namespace, or the errno.
//
// The child exits immediately with status 0; the caller must reap it.
func Raw(buf unsafe.Pointer, size uintptr) (int, unix.Errno) {
	// The child inherits this thread's signal mask: with every signal
	// blocked none can land on it, which matters for a CLONE_VM child,
	// whose signal frame would be written on the caller's stack.
	restore := blockSignals()
	r := rawClone3(buf, size, nil)
	restore()
	if r < 0 && r > -4096 {
		return 0, unix.Errno(-r)
	}
	return int(r), 0
}

// Call calls clone3 with a copy of a laid out in a buffer of exactly size
// bytes. Sizes above SizeVer2 are zero-padded unless tail is non-empty, in
// which case tail is written right after the VER2 fields (to check the
// kernel's "unknown non-zero bytes → E2BIG" rule).
func Call(a *Args, size int, tail []byte) (int, unix.Errno) {
	buf := Buffer(a, size, tail)
	return Raw(unsafe.Pointer(&buf[0]), uintptr(size))
}

// Buffer lays a out as Call passes it: at least VER2 bytes, tail after the
// VER2 fields, so that size can be anything from 0 up.
func Buffer(a *Args, size int, tail []byte) []byte {
	if size < 0 {
		panic(fmt.Sprintf("clone3: negative size %d", size))
	}
	n := size
	if n < SizeVer2 {
		n = SizeVer2
	}
	buf := HeapBytes(n + len(tail)) // a proxy may read it
	copy(buf, unsafe.Slice((*byte)(unsafe.Pointer(a)), SizeVer2))
	copy(buf[SizeVer2:], tail)
	return buf
}

// PtrTo returns the address of the first element of s as a u64 for Args.
// The caller keeps s alive (runtime.KeepAlive) across the system call.
func PtrTo(s []int32) uint64 {
	if len(s) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&s[0])))
}

// blockSignals blocks every signal on the calling thread, which it locks,
// until restore is called. A child created meanwhile inherits the mask,
// so no Go signal handler can ever run on it.
func blockSignals() (restore func()) {
	runtime.LockOSThread()
	var all, old unix.Sigset_t
	for i := range all.Val {
		all.Val[i] = ^uint64(0)
	}
	unix.PthreadSigmask(unix.SIG_SETMASK, &all, &old)
	return func() {
		unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
		runtime.UnlockOSThread()
	}
}
