package proc

import "syscall"

// DieWithParent makes the kernel SIGKILL the child when vmtest dies, even by
// SIGKILL, so that no QEMU outlives the run that started it.
func DieWithParent(attr *syscall.SysProcAttr) *syscall.SysProcAttr {
	if attr == nil {
		attr = &syscall.SysProcAttr{}
	}
	attr.Pdeathsig = syscall.SIGKILL
	return attr
}
