//go:build linux && (amd64 || arm64)

package clone3

import (
	"os"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (PID namespaces)")
	}
}

func TestProxyNested(t *testing.T) {
	needRoot(t)
	p1, err := StartProxy(unix.CLONE_NEWPID, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if pid, e := p1.Syscall(unix.SYS_GETPID); e != 0 || pid != 1 {
		t.Fatalf("getpid in the new namespace = %d, %v; want 1", pid, e)
	}
	p2, err := p1.Spawn(unix.CLONE_NEWPID)
	if err != nil {
		t.Fatal(err)
	}
	defer p1.Close(p2)
	if p2.PID != 2 {
		t.Errorf("second proxy's PID in the first namespace = %d, want 2", p2.PID)
	}
	if ns, err := NSpid(mustGPID(t, p2)); err != nil || len(ns) != 3 || ns[1] != 2 || ns[2] != 1 {
		t.Errorf("NSpid of the second proxy = %v, %v; want [G 2 1]", ns, err)
	}
	// A child with a chosen PID at both levels below the initial one.
	// Heap memory only: the proxy writes it while this goroutine waits.
	tid := HeapInt32s([]int32{300, 301})
	pidfd := Heap[int32]()
	a := Heap[Args]()
	*a = Args{Flags: unix.CLONE_PIDFD, PidFD: uint64(uintptr(unsafe.Pointer(pidfd))), SetTID: PtrTo(tid), SetTIDSize: 2}
	pid, e := p2.Clone3(unsafe.Pointer(a), SizeVer1, nil)
	if e != 0 || pid != 300 {
		t.Fatalf("clone3 via proxy = %d, %v; want 300", pid, e)
	}
	ns, err := fdinfoNSpid(int(*pidfd))
	if err != nil || len(ns) != 3 || ns[1] != 301 || ns[2] != 300 {
		t.Errorf("child NSpid = %v, %v", ns, err)
	}
	info := Heap[unix.Siginfo]()
	if _, e := p2.Syscall(unix.SYS_WAITID, unix.P_PID, uintptr(pid), uintptr(unsafe.Pointer(info)), unix.WEXITED|unix.WALL); e != 0 {
		t.Errorf("reap via proxy: %v", e)
	}
	unix.Close(int(*pidfd))
}

func mustGPID(t *testing.T, p *Proxy) int {
	g, err := p.GPID()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestProxyKilledFailsFast(t *testing.T) {
	needRoot(t)
	p, err := StartProxy(0, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Kill()
	if _, e := p.Syscall(unix.SYS_GETPID); e != ErrnoProxy {
		t.Errorf("a killed proxy answered %v, want ErrnoProxy", e)
	}
}

// TestProxyStuckRequest: a request that outlives the proxy's timeout kills the
// proxy and fails, and the proxy is not used again: a late answer must
// never be taken for the next call's.
func TestProxyStuckRequest(t *testing.T) {
	needRoot(t)
	p, err := StartProxy(0, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ts := Heap[unix.Timespec]()
	ts.Nsec = 300e6
	if _, e := p.Syscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(ts)), 0); e != ErrnoProxy {
		t.Errorf("stuck request: %v, want ErrnoProxy", e)
	}
	if pid, e := p.Syscall(unix.SYS_GETPID); e != ErrnoProxy {
		t.Errorf("the next request got %d, %v from a proxy that timed out", pid, e)
	}
}
