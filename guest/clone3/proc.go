//go:build linux && (amd64 || arm64)

package clone3

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/internal/contract"
)

// ProcRoot is where the initial PID namespace's procfs is mounted. Case
// processes in nested namespaces mount their own procfs on /proc (Go's
// os/exec writes uid_map through it), so the agent keeps a second
// instance of the initial one at contract.RootProc; NSpid read there
// covers every level from 0 down. Outside the agent's VM (unit tests) it
// is /proc. It is looked up once, on first use, not at start-up, so that
// a program that never reads it never probes for it.
var ProcRoot = sync.OnceValue(func() string {
	if _, err := os.Stat(contract.RootProc + "/self"); err == nil {
		return contract.RootProc
	}
	return "/proc"
})

// Child describes a process created by clone3 after it exited.
type Child struct {
	PID   int   // in the caller's PID namespace
	NSpid []int // from /proc/PID/status, outermost visible namespace first
}

// Reap waits for the child pid, which the caller created with clone3 and
// which exits at once, reads its NSpid while it is a zombie (the PID is
// still held then), and finally reaps it so the PID becomes free.
func Reap(pid int) (Child, error) {
	c := Child{PID: pid}
	var info unix.Siginfo
	// WNOWAIT: leave the zombie in place so /proc/PID/status still exists.
	if err := waitid(pid, &info, unix.WEXITED|unix.WNOWAIT|unix.WALL); err != nil {
		return c, fmt.Errorf("waitid(%d): %w", pid, err)
	}
	nspid, err := NSpid(pid)
	var ws unix.WaitStatus
	if _, werr := unix.Wait4(pid, &ws, unix.WALL, nil); werr != nil && err == nil {
		err = fmt.Errorf("reap %d: %w", pid, werr)
	}
	c.NSpid = nspid
	return c, err
}

// WaitExit waits for the child pid to exit and reaps it, without reading
// anything about it: for children whose PID the caller already knows is
// their only one (no nested namespace), where Reap's /proc read would
// only cost time.
func WaitExit(pid int) error {
	var info unix.Siginfo
	if err := waitid(pid, &info, unix.WEXITED|unix.WALL); err != nil {
		return fmt.Errorf("waitid(%d): %w", pid, err)
	}
	return nil
}

func waitid(pid int, info *unix.Siginfo, options int) error {
	for {
		err := unix.Waitid(unix.P_PID, pid, info, options, nil)
		if err != unix.EINTR {
			return err
		}
	}
}

// NSpid returns the NSpid line of /proc/PID/status: the process's PID in
// every namespace from the one /proc was mounted in down to its own.
// Kernels without PID namespaces have no NSpid line; then the PID itself is
// the only level.
func NSpid(pid int) ([]int, error) {
	return nspidAt(procPath(pid, "status"), pid)
}

func nspidAt(path string, pid int) ([]int, error) {
	b, err := readProc(path)
	if err != nil {
		return nil, fmt.Errorf("read status of %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "NSpid:") {
			continue
		}
		var out []int
		for _, f := range strings.Fields(strings.TrimPrefix(line, "NSpid:")) {
			n, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("parse NSpid %q of %d: %w", line, pid, err)
			}
			out = append(out, n)
		}
		return out, nil
	}
	return []int{pid}, nil
}

// StatusField returns one field of /proc/PID/status (e.g. "SigCgt"),
// trimmed.
func StatusField(pid int, field string) (string, error) {
	b, err := readProc(procPath(pid, "status"))
	if err != nil {
		return "", fmt.Errorf("read status of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("status of %d has no %s line", pid, field)
}

// PidMax reads /proc/sys/kernel/pid_max. It is never assumed: minimal
// kernels (CONFIG_BASE_SMALL) default to 4096, distributions to 4194304.
func PidMax() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return 0, fmt.Errorf("read pid_max: %w", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("parse pid_max %q: %w", b, err)
	}
	return n, nil
}

// PIDInUse reports whether pid is taken in the PID namespace of ProcRoot:
// the PID of a process or thread (zombies included), or the ID of a
// process group that outlived its leader. set_tid refuses all of them
// with EEXIST, since each keeps the number in the namespace's PID map.
// From that namespace itself (the agent's case) it asks kill(pid, 0) and
// kill(-pid, 0), which look the PID and the group up without sending
// anything and, unlike a /proc path walk, allocate nothing: the matrix
// asks for every PID it picks. A thread's TID answers too, as /proc/TID
// does. (A session ID whose leader and group are both gone, with members
// in other groups, is not seen; nothing in the guest makes one.)
// Elsewhere (a case process of the exec runner) only ProcRoot sees that
// namespace.
func PIDInUse(pid int) bool {
	if inProcRootNS() {
		return unix.Kill(pid, 0) != unix.ESRCH || unix.Kill(-pid, 0) != unix.ESRCH
	}
	return unix.Access(procPath(pid, ""), unix.F_OK) == nil
}

// inProcRootNS reports whether the calling process lives in the PID
// namespace ProcRoot shows. ProcRoot/self/status lists the caller's PIDs
// from that namespace down to its own: one PID means they are the same.
var inProcRootNS = sync.OnceValue(func() bool {
	ns, err := nspidAt(ProcRoot()+"/self/status", os.Getpid())
	return err == nil && len(ns) == 1
})

// procPath returns ProcRoot/pid/file (or ProcRoot/pid for file "").
func procPath(pid int, file string) string {
	b := make([]byte, 0, 32)
	b = append(b, ProcRoot()...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(pid), 10)
	if file != "" {
		b = append(b, '/')
		b = append(b, file...)
	}
	return string(b)
}

// readProc reads a small procfs file with plain open/read/close. The
// matrix reads /proc for nearly every child it creates, and under TCG the
// extra system calls of os.ReadFile (fstat, registering the descriptor
// with the poller) cost more than the read itself.
func readProc(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	n := 0
	for {
		m, err := unix.Read(fd, buf[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return buf[:n], nil
		}
		n += m
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
	}
}

// ReapPidfd is Reap for a child created with CLONE_PIDFD. The pidfd's
// fdinfo lists the child's PID at every level of the procfs's namespace
// (the initial one in the guest) down to its own, whatever the caller's
// depth; the child's /proc/PID/status is then read under its initial PID
// and must agree. With reap false the zombie is left for the caller.
func ReapPidfd(pid, pidfd int, reap bool) (Child, error) {
	return ReapPidfdWith(waitid, pid, pidfd, reap)
}

// WaitFunc is waitid(P_PID, pid, info, options) made by the child's
// parent: the calling thread itself, or a Proxy.
type WaitFunc func(pid int, info *unix.Siginfo, options int) error

// ReapPidfdWith is ReapPidfd for a child of another process (a Proxy),
// which wait must reach.
func ReapPidfdWith(wait WaitFunc, pid, pidfd int, reap bool) (Child, error) {
	return ReapPidfdHint(wait, pid, pidfd, Hint{}, reap)
}

// Hint is what a caller may already know of a child's place.
type Hint struct {
	// GPID is its PID in ProcRoot's namespace: set_tid chose it when the
	// array covered every level.
	GPID int
	// Level is the depth of the namespace where the child has the PID
	// clone3 returned (the caller's own), Levels the number of PID
	// namespaces the child lives in.
	Level, Levels int
}

// ReapPidfdHint is ReapPidfdWith for a child whose global PID the caller
// expects (h.GPID non-zero). /proc/GPID/status is read at once, and taken
// as the child's when it shows h.Levels PIDs, pid among them at h.Level;
// only otherwise does the pidfd's fdinfo say where the child is. That
// read costs as much as the status read under TCG.
func ReapPidfdHint(wait WaitFunc, pid, pidfd int, h Hint, reap bool) (Child, error) {
	c := Child{PID: pid}
	info := new(unix.Siginfo) // heap: a proxy writes it
	if err := wait(pid, info, unix.WEXITED|unix.WNOWAIT|unix.WALL); err != nil {
		return c, fmt.Errorf("waitid(%d): %w", pid, err)
	}
	var err error
	if c.NSpid = hinted(pid, h); c.NSpid == nil {
		c.NSpid, err = pidfdNSpid(pid, pidfd)
	}
	if reap {
		if werr := wait(pid, info, unix.WEXITED|unix.WALL); werr != nil && err == nil {
			err = fmt.Errorf("reap %d: %w", pid, werr)
		}
	}
	return c, err
}

// hinted returns the NSpid of /proc/h.GPID/status when it is the child's
// by h (see ReapPidfdHint), else nil.
func hinted(pid int, h Hint) []int {
	if h.GPID <= 0 {
		return nil
	}
	status, err := NSpid(h.GPID)
	if err != nil || len(status) != h.Levels || h.Level >= len(status) || status[h.Level] != pid || status[0] != h.GPID {
		return nil
	}
	return status
}

// pidfdNSpid finds the child's global PID in its pidfd's fdinfo and reads
// its status there; the two must agree.
func pidfdNSpid(pid, pidfd int) ([]int, error) {
	fdinfo, err := fdinfoNSpid(pidfd)
	if err != nil {
		return nil, err
	}
	status, err := NSpid(fdinfo[0])
	if err == nil && !slicesEqual(status, fdinfo) {
		err = fmt.Errorf("NSpid of child %d disagrees: pidfd fdinfo %v, /proc/%d/status %v", pid, fdinfo, fdinfo[0], status)
	}
	return status, err
}

// PidfdNSpid returns the NSpid line of a pidfd's fdinfo: the process's PID
// at every level from ProcRoot's namespace down to its own. For a child of
// the initial namespace it is read under /proc/self, whose entries the
// kernel keeps, where its own /proc/PID directory would first have to be
// made: under TCG that is the cheaper of the two reads by far.
func PidfdNSpid(pidfd int) ([]int, error) { return fdinfoNSpid(pidfd) }

func fdinfoNSpid(pidfd int) ([]int, error) {
	b, err := readProc(ProcRoot() + "/self/fdinfo/" + strconv.Itoa(pidfd))
	if err != nil {
		return nil, fmt.Errorf("read pidfd fdinfo: %w", err)
	}
	return parseFdinfoNSpid(b)
}

// parseFdinfoNSpid reads the PID chain out of pidfd fdinfo text. Without
// CONFIG_PID_NS the kernel prints no NSpid line; there is one level only,
// and the Pid line is it.
func parseFdinfoNSpid(b []byte) ([]int, error) {
	pid := 0
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			pid, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		rest, ok := strings.CutPrefix(line, "NSpid:")
		if !ok {
			continue
		}
		var out []int
		for _, f := range strings.Fields(rest) {
			n, err := strconv.Atoi(f)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("bad pidfd NSpid line %q", line)
			}
			out = append(out, n)
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	if pid > 0 && !strings.Contains(string(b), "NSpid:") {
		return []int{pid}, nil
	}
	return nil, fmt.Errorf("pidfd fdinfo has no NSpid line: %q", b)
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
