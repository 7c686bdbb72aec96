//go:build linux && (amd64 || arm64)

package clone3

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestPIDInUse: a process, a thread's TID and a zombie are in use; a PID
// nothing holds is not. Both lookups (kill and /proc) must agree.
func TestPIDInUse(t *testing.T) {
	pidMax, err := PidMax()
	if err != nil {
		t.Fatal(err)
	}
	free := 0
	for p := pidMax - 1; p > 300; p-- {
		if unix.Access(procPath(p, ""), unix.F_OK) != nil {
			free = p
			break
		}
	}
	a := Args{Flags: ChildFlags}
	zombie, e := Call(&a, SizeVer0, nil)
	if e != 0 {
		t.Fatalf("clone3: %v", e)
	}
	var info unix.Siginfo
	if err := waitid(zombie, &info, unix.WEXITED|unix.WNOWAIT|unix.WALL); err != nil {
		t.Fatal(err)
	}
	defer WaitExit(zombie)
	tests := []struct {
		name string
		pid  int
		want bool
	}{
		{"self", os.Getpid(), true},
		{"a thread", unix.Gettid(), true},
		{"a zombie", zombie, true},
		{"free", free, false},
	}
	for _, tt := range tests {
		if got := PIDInUse(tt.pid); got != tt.want {
			t.Errorf("%s: PIDInUse(%d) = %v, want %v", tt.name, tt.pid, got, tt.want)
		}
		if got := unix.Access(procPath(tt.pid, ""), unix.F_OK) == nil; got != tt.want {
			t.Errorf("%s: /proc/%d exists = %v, want %v", tt.name, tt.pid, got, tt.want)
		}
	}
	if !inProcRootNS() {
		t.Log("not in ProcRoot's PID namespace: only the /proc lookup was tested")
	}
}

// TestReapPidfdHint: a child's NSpid is the same whether the caller's hint
// of its global PID is right (status read at once), wrong (the fdinfo
// route) or absent.
func TestReapPidfdHint(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for set_tid")
	}
	pidMax, err := PidMax()
	if err != nil {
		t.Fatal(err)
	}
	free := 0
	for p := pidMax - 1000; p > 300; p-- {
		if !PIDInUse(p) {
			free = p
			break
		}
	}
	for _, tt := range []struct {
		name string
		hint Hint
	}{
		{"right", Hint{GPID: free, Level: 0, Levels: 2}},
		{"wrong", Hint{GPID: os.Getpid(), Level: 0, Levels: 2}},
		{"none", Hint{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tid := HeapInt32s([]int32{1, int32(free)})
			pidfd := Heap[int32]()
			a := Args{Flags: ChildFlags | unix.CLONE_NEWPID | unix.CLONE_PIDFD, PidFD: uint64(uintptr(unsafe.Pointer(pidfd))), SetTID: PtrTo(tid), SetTIDSize: 2}
			pid, e := Call(&a, SizeVer1, nil)
			if e != 0 {
				t.Fatalf("clone3: %v", e)
			}
			defer unix.Close(int(*pidfd))
			c, err := ReapPidfdHint(waitid, pid, int(*pidfd), tt.hint, true)
			if err != nil {
				t.Fatal(err)
			}
			if pid != free || !slicesEqual(c.NSpid, []int{free, 1}) {
				t.Errorf("pid %d NSpid %v, want %d [%d 1]", pid, c.NSpid, free, free)
			}
		})
	}
}

// TestPIDInUseProcessGroup: a process group outlives its leader while a
// member remains, and set_tid answers EEXIST for its ID, so the PID picker
// must see it as taken although no process has that PID.
func TestPIDInUseProcessGroup(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 5 </dev/null >/dev/null 2>&1 & exit 0")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Run(); err != nil {
		t.Skipf("sh: %v", err)
	}
	pgid := cmd.Process.Pid
	defer syscall.Kill(-pgid, syscall.SIGKILL)
	if syscall.Kill(pgid, 0) != syscall.ESRCH {
		t.Skipf("PID %d is in use again", pgid)
	}
	if !PIDInUse(pgid) {
		t.Errorf("PIDInUse(%d) = false for the ID of a live process group whose leader exited", pgid)
	}
}

// TestParseFdinfoNSpid: the chain comes from the NSpid line, or from the
// Pid line on a kernel without PID namespaces, which prints no NSpid.
func TestParseFdinfoNSpid(t *testing.T) {
	for _, tc := range []struct {
		text string
		want []int
		ok   bool
	}{
		{"pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nPid:\t300\nNSpid:\t300\t7\n", []int{300, 7}, true},
		{"pos:\t0\nPid:\t300\nNSpid:\t300\n", []int{300}, true},
		{"pos:\t0\nflags:\t02000002\nPid:\t42\n", []int{42}, true},
		{"pos:\t0\nPid:\t-1\nNSpid:\t-1\n", nil, false}, // the process is gone
		{"pos:\t0\n", nil, false},
	} {
		got, err := parseFdinfoNSpid([]byte(tc.text))
		if (err == nil) != tc.ok || !slicesEqual(got, tc.want) {
			t.Errorf("parseFdinfoNSpid(%q) = %v, %v; want %v (ok %v)", tc.text, got, err, tc.want, tc.ok)
		}
	}
}
