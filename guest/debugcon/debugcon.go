//go:build linux

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

import "github.com/vmtest/vmtest/internal/contract"

// Port is the I/O port the host puts the device at.
const Port = contract.DebugconPort

// Writer writes to the debug port. Open it with Open.
type Writer struct{}

// Close does nothing; it exists so that a Writer can stand in for a tty.
func (*Writer) Close() error { return nil }
