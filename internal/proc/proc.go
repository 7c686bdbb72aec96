// Package proc starts helper programs (make, tar, apt-get) so that a
// cancelled context ends them and everything they started.
package proc

import (
	"context"
	"os/exec"
	"syscall"
	"time"
)

// TermGrace is how long a cancelled command's process group has between
// SIGTERM and SIGKILL. SIGTERM first lets make delete the target it was
// writing, so a later incremental build does not take a truncated object
// file for a finished one; the whole group is gone within a second.
const TermGrace = 500 * time.Millisecond

// Command is exec.CommandContext with the command in a process group of
// its own, which a cancelled ctx signals as a whole. Killing make alone
// would leave its compilers running, and writing into the object tree,
// after vmtest has exited. (Being its own group also keeps a terminal's
// Ctrl-C from reaching it directly: vmtest decides how it ends.)
func Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		pgid := cmd.Process.Pid
		syscall.Kill(-pgid, syscall.SIGTERM)
		time.AfterFunc(TermGrace, func() { syscall.Kill(-pgid, syscall.SIGKILL) })
		return nil
	}
	// A grandchild holding stdout open must not keep Wait from returning.
	cmd.WaitDelay = time.Second
	return cmd
}
