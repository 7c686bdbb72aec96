// Package vmlinux finds the uncompressed kernel inside an x86 bzImage, so
// that QEMU can boot it directly through its PVH entry point.
//
// A bzImage carries the kernel as a compressed ELF (vmlinux.bin) which its
// own stub decompresses at boot. Under TCG that stub is emulated, and for
// an XZ kernel it is most of the boot: about 3 of Debian's 4.5 seconds.
// Decompressing on the host in Go takes a fraction of a second, once per
// kernel (the result is cached by the bzImage's SHA-256), and an ELF with
// a PVH note (XEN_ELFNOTE_PHYS32_ENTRY) lets QEMU skip the real-mode setup
// and the firmware's boot path too. A kernel that cannot go this way (no
// PVH note, a compression left out here, a corrupt payload) boots as a
// bzImage; Resolve says why.
package vmlinux

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Offsets of the x86 boot protocol's setup header (Documentation/arch/x86/boot.rst).
const (
	offSetupSects    = 0x1f1
	offHeaderMagic   = 0x202
	offVersion       = 0x206
	offPayloadOffset = 0x248
	offPayloadLength = 0x24c
	headerEnd        = 0x250
	// payloadProtocol is the first boot protocol whose header has the
	// payload fields (2.08).
	payloadProtocol = 0x0208
)

// Compression is how a bzImage's payload is compressed.
type Compression string

// The compressions the kernel builds (CONFIG_KERNEL_*). All but LZO are
// decompressed here; LZO has no decoder in the standard library or in the
// modules vmtest already uses, and no distribution ships LZO kernels.
const (
	None  Compression = "none"
	Gzip  Compression = "gzip"
	XZ    Compression = "xz"
	LZMA  Compression = "lzma"
	Zstd  Compression = "zstd"
	LZ4   Compression = "lz4"
	Bzip2 Compression = "bzip2"
	LZO   Compression = "lzo"
)

// Errors wrapped by what this package returns, so callers can tell a
// kernel that merely cannot go the fast way from a broken one.
var (
	// ErrUnsupported: the payload's format is left out or unknown.
	ErrUnsupported = errors.New("payload format not supported")
	// ErrCorrupt: the payload does not decompress, or not to what the
	// bzImage declares.
	ErrCorrupt = errors.New("corrupt payload")
	// ErrNotELF: the payload is not an x86-64 ELF executable.
	ErrNotELF = errors.New("not an x86-64 ELF kernel")
	// ErrNoPVH: the ELF has no PVH entry note (a kernel without
	// CONFIG_PVH).
	ErrNoPVH = errors.New("no PVH entry note")
)

// Payload is where a bzImage's compressed kernel is, as its setup header
// declares it.
type Payload struct {
	Compression Compression
	// Offset is from the start of the file; Length includes the
	// trailing uncompressed size the kernel build appends.
	Offset, Length int64
}

// FindPayload reads the setup header of the bzImage r (size bytes) and
// locates its payload. It expects a file host/bzimage has checked; it
// only checks what it relies on.
func FindPayload(r io.ReaderAt, size int64) (Payload, error) {
	head := make([]byte, headerEnd)
	if _, err := r.ReadAt(head, 0); err != nil {
		return Payload{}, fmt.Errorf("read setup header: %w", err)
	}
	if string(head[offHeaderMagic:offHeaderMagic+4]) != "HdrS" {
		return Payload{}, fmt.Errorf("%w: no setup header", ErrUnsupported)
	}
	if v := binary.LittleEndian.Uint16(head[offVersion:]); v < payloadProtocol {
		return Payload{}, fmt.Errorf("%w: boot protocol %#04x predates the payload fields (2.08)", ErrUnsupported, v)
	}
	sects := int64(head[offSetupSects])
	if sects == 0 {
		sects = 4
	}
	p := Payload{
		Offset: (sects+1)*512 + int64(binary.LittleEndian.Uint32(head[offPayloadOffset:])),
		Length: int64(binary.LittleEndian.Uint32(head[offPayloadLength:])),
	}
	if p.Length < 8 || p.Offset+p.Length > size {
		return Payload{}, fmt.Errorf("%w: the header's payload (%d bytes at %d) does not fit in the file (%d bytes)", ErrCorrupt, p.Length, p.Offset, size)
	}
	var magic [6]byte
	if _, err := r.ReadAt(magic[:], p.Offset); err != nil {
		return Payload{}, fmt.Errorf("read payload: %w", err)
	}
	p.Compression = identify(magic[:])
	if p.Compression == "" {
		return p, fmt.Errorf("%w: unknown compression (payload starts % x)", ErrUnsupported, magic)
	}
	return p, nil
}

// identify names a payload's format by its magic number, as the kernel's
// build writes them (scripts/Makefile.lib).
func identify(b []byte) Compression {
	switch {
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return None
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return Gzip
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return XZ
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return Zstd
	case bytes.HasPrefix(b, []byte{0x02, 0x21, 0x4c, 0x18}):
		return LZ4
	case bytes.HasPrefix(b, []byte("BZh")):
		return Bzip2
	case bytes.HasPrefix(b, []byte{0x89, 'L', 'Z', 'O'}):
		return LZO
	case len(b) >= 3 && b[0] == 0x5d && b[1] == 0 && b[2] == 0:
		// .lzma has no magic; its first byte is the lc/lp/pb
		// properties, 0x5d for every lzma(1) preset, then a small
		// little-endian dictionary size.
		return LZMA
	}
	return ""
}
