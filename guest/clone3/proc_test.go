package clone3

import (
	"os"
	"testing"

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
	a := Args{Flags: ChildVM}
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
