//go:build linux && (amd64 || arm64)

package clone3

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ThreadResult is what a thread created by Thread reports.
type ThreadResult struct {
	TID     int   // clone3's return value: the new thread's TID in the caller's namespace
	SelfTID int32 // what the thread itself saw from gettid()
	// ParentTID is what CLONE_PARENT_SETTID stored for the caller: the
	// TID in the caller's PID namespace.
	ParentTID int32
	Errno     unix.Errno // clone3's error, if any
}

const threadStackSize = 64 << 10

// ThreadVia creates a thread (CLONE_THREAD|CLONE_VM|CLONE_SIGHAND) with
// the given set_tid array, in px's thread group (px nil: the caller's), so
// that its TIDs come from px's PID namespaces. It waits for the thread to
// exit and reports both the TID the kernel returned and the TID the thread
// observed itself.
//
// The thread runs on an mmap'd stack, executes gettid and exit, and never
// enters Go code. All signals are blocked on the calling thread for the
// duration so the new thread, which inherits the mask, cannot take a signal
// that the Go runtime would try to handle on a thread it does not know (a
// proxy's threads inherit the proxy's mask, which blocks everything too).
func ThreadVia(px *Proxy, setTID []int32) (ThreadResult, error) {
	stack, err := unix.Mmap(-1, 0, threadStackSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_STACK)
	if err != nil {
		return ThreadResult{}, fmt.Errorf("mmap thread stack: %w", err)
	}
	exited := true // the stack may be unmapped: no thread runs on it
	defer func() {
		if exited {
			unix.Munmap(stack)
		}
	}()
	defer blockSignals()()

	// ctid holds a non-zero mark until the kernel clears it with a futex
	// wake when the thread exits (CLONE_CHILD_CLEARTID); ptid gets the
	// TID for the caller (CLONE_PARENT_SETTID).
	ctid, ptid := Heap[int32](), Heap[int32]()
	*ctid = -1
	selfTID := Heap[int32]()
	setTID = HeapInt32s(setTID)
	a := Heap[Args]()
	*a = Args{
		Flags: unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
			unix.CLONE_THREAD | unix.CLONE_SYSVSEM | unix.CLONE_PARENT_SETTID | unix.CLONE_CHILD_CLEARTID,
		ChildTID:   uint64(uintptr(unsafe.Pointer(ctid))),
		ParentTID:  uint64(uintptr(unsafe.Pointer(ptid))),
		Stack:      uint64(uintptr(unsafe.Pointer(&stack[0]))),
		StackSize:  threadStackSize,
		SetTID:     PtrTo(setTID),
		SetTIDSize: uint64(len(setTID)),
	}
	var r int64
	if px == nil {
		r = rawClone3(unsafe.Pointer(a), SizeVer1, selfTID)
	} else {
		pid, e := px.Clone3(unsafe.Pointer(a), SizeVer1, selfTID)
		if e == ErrnoProxy {
			return ThreadResult{}, fmt.Errorf("proxy failed during clone3 of a thread")
		}
		r = int64(pid)
		if e != 0 {
			r = -int64(e)
		}
	}
	runtime.KeepAlive(setTID)
	if r < 0 {
		return ThreadResult{Errno: unix.Errno(-r)}, nil
	}
	exited = false // until ctid says otherwise
	// Wait for the thread to exit so its stack can be freed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		v := atomic.LoadInt32(ctid)
		if v == 0 {
			exited = true
			break
		}
		if time.Now().After(deadline) {
			exited = false // its stack stays mapped
			return ThreadResult{}, fmt.Errorf("thread %d did not exit within 10s", r)
		}
		ts := unix.Timespec{Nsec: 10e6}
		unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(ctid)), futexWait, uintptr(v), uintptr(unsafe.Pointer(&ts)), 0, 0)
	}
	runtime.KeepAlive(a)
	return ThreadResult{TID: int(r), SelfTID: atomic.LoadInt32(selfTID), ParentTID: atomic.LoadInt32(ptid)}, nil
}

// futexWait is FUTEX_WAIT from linux/futex.h (x/sys/unix does not export it).
const futexWait = 0
