// Package shmlog is the layout of the shared-memory result channel: an
// append-only byte stream in a region of memory that the guest and the
// host both see. On the host the region is a file, which QEMU maps as the
// memory of an ivshmem-plain PCI device; in the guest it is that device's
// BAR, mapped through sysfs (see guest/ivshmem).
//
// Under TCG every byte written to an I/O port or a UART is a trip through
// QEMU's device emulation and, for a file-backed character device, a
// host write(2): the matrix's 14 KB of results cost the guest about a
// fifth of its run. A store to shared memory is a plain store.
//
// Layout: a 64-byte header, then the stream. The header starts with Magic,
// which the host writes when it creates the region, so that the guest
// writes only into a region that was made for it; bytes 16 to 24 hold the
// stream's length (little-endian), which the guest stores only after the
// bytes it covers. A reader that sees a length therefore sees every byte
// before it (x86 orders stores with stores and loads with loads), and
// both sides access the length with 8-byte atomic operations.
package shmlog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Magic marks a region made for the stream (format version 1).
const Magic = "vmtest-shmlog\x00v1"

// HeaderSize is where the stream starts.
const HeaderSize = 64

// lengthOffset is where the header holds the stream's length.
const lengthOffset = 16

// ErrFull is returned by Write when the region has no room for p. Nothing
// of p is written: the reader never sees a partial record.
var ErrFull = errors.New("shared result region full")

// Writer appends to a region (the guest side).
type Writer struct {
	mem    []byte
	length *uint64
	n      uint64
}

// NewWriter returns a Writer appending to mem, a mapping of the whole
// region, after whatever the region already holds. It refuses a region
// without Magic: its memory was not made for the stream.
func NewWriter(mem []byte) (*Writer, error) {
	if len(mem) <= HeaderSize {
		return nil, fmt.Errorf("region of %d bytes is too small for the %d-byte header", len(mem), HeaderSize)
	}
	if !bytes.Equal(mem[:len(Magic)], []byte(Magic)) {
		return nil, fmt.Errorf("region has no %q header: not made by the vmtest host", Magic)
	}
	w := &Writer{mem: mem, length: (*uint64)(unsafe.Pointer(&mem[lengthOffset]))}
	w.n = atomic.LoadUint64(w.length)
	if w.n > uint64(len(mem)-HeaderSize) {
		return nil, fmt.Errorf("region claims %d bytes of stream, more than its %d", w.n, len(mem)-HeaderSize)
	}
	return w, nil
}

// Write appends p and then publishes the new length. A single goroutine
// writes (the agent's KTAP writer).
func (w *Writer) Write(p []byte) (int, error) {
	if uint64(len(p)) > uint64(len(w.mem)-HeaderSize)-w.n {
		return 0, fmt.Errorf("%w (%d bytes): %d bytes do not fit", ErrFull, len(w.mem)-HeaderSize, len(p))
	}
	copy(w.mem[HeaderSize+w.n:], p)
	w.n += uint64(len(p))
	// An atomic store: the compiler may not move the copy's stores after
	// it, and on x86 it is a locked instruction, ordered after them.
	atomic.StoreUint64(w.length, w.n)
	return len(p), nil
}

// Close does nothing: every Write is visible once it returns.
func (w *Writer) Close() error { return nil }

// Create makes the region file at path (the host side): size bytes, the
// header written, the stream empty. size must suit QEMU's memory backend
// (a power of two for ivshmem).
func Create(path string, size int64) error {
	if size <= HeaderSize {
		return fmt.Errorf("create %s: size %d leaves no room after the header", path, size)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create shared result region: %w", err)
	}
	_, err = f.Write([]byte(Magic))
	if err == nil {
		err = f.Truncate(size)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("create shared result region %s: %w", path, err)
	}
	return nil
}

// Reader follows a region file (the host side) while the guest appends.
// It maps the file rather than reading it: the length must be loaded in
// one piece, and read(2) copies with string instructions that promise no
// such thing; a torn length could point past what the guest has written.
type Reader struct {
	mem []byte
	off uint64 // stream bytes already returned
}

// Open maps the region file at path for reading. Nothing may shrink the
// file while it is mapped (the host made it, at a fixed size, and QEMU
// maps the same size).
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open shared result region: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open shared result region: %w", err)
	}
	if st.Size() <= HeaderSize {
		return nil, fmt.Errorf("shared result region %s: %d bytes, no room after the header", path, st.Size())
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map shared result region: %w", err)
	}
	return &Reader{mem: mem}, nil
}

// Next returns the stream bytes appended since the last call (none yet:
// an empty slice).
func (r *Reader) Next() ([]byte, error) {
	n := atomic.LoadUint64((*uint64)(unsafe.Pointer(&r.mem[lengthOffset])))
	if n > uint64(len(r.mem)-HeaderSize) || n < r.off {
		return nil, fmt.Errorf("shared result region: length %d is impossible (region %d bytes, %d already read)", n, len(r.mem)-HeaderSize, r.off)
	}
	if n == r.off {
		return nil, nil
	}
	// The load above is ordered before these (x86 keeps loads in order,
	// and an atomic load is an acquire): every byte below n is written.
	buf := bytes.Clone(r.mem[HeaderSize+r.off : HeaderSize+n])
	r.off = n
	return buf, nil
}

// Close unmaps the file.
func (r *Reader) Close() error { return unix.Munmap(r.mem) }
