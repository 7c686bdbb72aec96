// Package debugcon writes to QEMU's isa-debugcon device: an I/O port whose
// every byte QEMU passes straight to a character device. It is the
// agent's fast result channel. An 8250 UART costs the guest an interrupt
// per 16 bytes and several emulated register accesses per byte (3–5 µs a
// byte under TCG, tens of milliseconds for a run's results); a string
// write to the debug port is one instruction, with no driver and no
// interrupt. It needs ioperm(2) (CONFIG_X86_IOPL_IOPERM, which
// distribution kernels have and tinyconfig ones lack); without it the
// agent uses the UART.
package debugcon

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/internal/contract"
)

// Port is the I/O port the host puts the device at.
const Port = contract.DebugconPort

// Writer writes to the debug port. Open it with Open.
type Writer struct{}

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

// Close does nothing; it exists so that a Writer can stand in for a tty.
func (*Writer) Close() error { return nil }

// outsb writes n bytes from p to port with REP OUTSB.
//
//go:noescape
func outsb(port uint16, p *byte, n int)
