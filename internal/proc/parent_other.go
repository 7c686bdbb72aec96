//go:build !linux

package proc

import "syscall"

// DieWithParent returns attr unchanged: only Linux can tie a child's life
// to its parent's (prctl PR_SET_PDEATHSIG). Elsewhere a child outlives a
// vmtest killed by SIGKILL; ordinary exits and signals still end it.
func DieWithParent(attr *syscall.SysProcAttr) *syscall.SysProcAttr {
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	return attr
}
