package qemu

import (
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// startWithNice starts cmd, with nice value n when n > 0. Linux keeps the
// nice value per thread and a new process takes its creator's, so cmd is
// started from a locked thread of its own reniced first: QEMU and every
// thread it makes (the vCPUs) then run at n, with no window in which a
// vCPU runs at full priority. The thread stays locked, parked, until
// exited is closed, because the child's parent-death signal
// (proc.DieWithParent) follows the thread that forked it; the locked
// goroutine's end then takes the reniced thread with it. A thread that
// cannot be reniced starts cmd as it is.
func startWithNice(cmd *exec.Cmd, n int, exited <-chan struct{}) error {
	if n <= 0 {
		return cmd.Start()
	}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: see above
		unix.Setpriority(unix.PRIO_PROCESS, 0, n)
		err := cmd.Start()
		started <- err
		if err == nil {
			<-exited
		}
	}()
	return <-started
}
