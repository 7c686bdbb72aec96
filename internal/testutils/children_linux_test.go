package testutils

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestKillChildren: a child left running is killed and reaped, and
// counted.
func TestKillChildren(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sleep to start: %v", err)
	}
	if n := killChildren(); n != 1 {
		t.Errorf("killChildren = %d, want 1", n)
	}
	if err := unix.Kill(cmd.Process.Pid, 0); err != unix.ESRCH {
		t.Errorf("child %d after killChildren: kill(0) = %v, want ESRCH (killed and reaped)", cmd.Process.Pid, err)
	}
}
