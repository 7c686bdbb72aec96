//go:build linux

package debugcon

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Open grants every thread of the process access to Port. The I/O
// permission bitmap belongs to a thread (threads created later inherit
// it), and any of Go's threads may run the goroutine that writes: one
// without access would take a general protection fault.
func Open() (*Writer, error) {
	if _, _, e := syscall.AllThreadsSyscall(unix.SYS_IOPERM, Port, 1, 1); e != 0 {
		return nil, fmt.Errorf("ioperm(%#x): %w", Port, e)
	}
	return &Writer{}, nil
}

// Write sends p to the port. It cannot fail: the port has no flow control
// and no error state.
func (*Writer) Write(p []byte) (int, error) {
	if len(p) > 0 {
		outsb(Port, &p[0], len(p))
	}
	return len(p), nil
}

// outsb writes n bytes from p to port with REP OUTSB.
//
//go:noescape
func outsb(port uint16, p *byte, n int)
