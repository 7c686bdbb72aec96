// Package bzimage checks that a file is an x86 bzImage a VM can boot, by
// reading its real setup header (Documentation/arch/x86/boot.rst), before
// any VM is started. Every rejection names the file and what it actually
// looks like, so a user who passed vmlinux, an arm64 Image or a gzip'ed
// kernel learns what to pass instead.
package bzimage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"

	"github.com/vmtest/vmtest/host/fileid"
)

// Offsets and constants of the x86 boot protocol's setup header.
const (
	offSetupSects   = 0x1f1
	offSysSize      = 0x1f4
	offBootFlag     = 0x1fe
	offHeaderMagic  = 0x202
	offVersion      = 0x206
	offKernelVer    = 0x20e
	offLoadFlags    = 0x211
	headerEnd       = 0x268 // through the 2.15 fields; enough for every check
	loadedHigh      = 0x01
	minProtocol     = 0x0200
	bzImageProtocol = 0x0204 // syssize is 32 bits from 2.04 on
)

// Info is what the header says about a valid bzImage.
type Info struct {
	// Version is the kernel version string the header points to, e.g.
	// "6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP ...".
	Version string `json:"version"`
	// Release is the first word of Version ("6.1.0-56-amd64").
	Release string `json:"release"`
	// Protocol is the boot protocol version, e.g. 0x020f.
	Protocol uint16 `json:"boot_protocol"`
	// SetupSize and PayloadSize are the sizes the header declares.
	SetupSize   int64 `json:"setup_size"`
	PayloadSize int64 `json:"payload_size"`
	// FileSize is the actual size; it may exceed the declared image
	// (distribution kernels append a signature).
	FileSize int64 `json:"file_size"`
	// Integrity names the checksum that vouched for the contents: the
	// build's trailing CRC32 or, for signed kernels, the PE checksum.
	Integrity string `json:"integrity"`
}

// ErrNotBzImage is wrapped by every "this is not a bootable bzImage" error.
var ErrNotBzImage = errors.New("not a bootable x86 bzImage")

// Check opens path and validates it. Errors are one line, start with the
// path, and wrap ErrNotBzImage when the file's content is at fault.
func Check(path string) (Info, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Info{}, fmt.Errorf("%s: no such file (pass the path of a bzImage, e.g. arch/x86/boot/bzImage)", path)
		}
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	if st.IsDir() {
		return Info{}, fmt.Errorf("%s: is a directory, not a kernel image (pass arch/x86/boot/bzImage inside it)", path)
	}
	if !st.Mode().IsRegular() {
		return Info{}, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return Info{}, fmt.Errorf("%s: cannot read: %w", path, err)
	}
	defer f.Close()
	info, err := Parse(f, st.Size())
	if err != nil {
		return Info{}, fmt.Errorf("%s: %w", path, err)
	}
	return info, nil
}

// checkKind names Check's verdict in a fileid.Cache; bump its version
// when Check changes what it accepts or what Info holds.
const checkKind = "bzimage.Check/v1"

// CheckCached is Check, remembered in c by the file's identity: the PE
// checksum of a signed distribution kernel reads every byte, 40 ms for
// Debian's 8 MB kernel, on every run otherwise. Only a file that passed
// is remembered, so a bad one is refused with the same error each time.
func CheckCached(c fileid.Cache, path string) (Info, error) {
	info, _, err := fileid.Remember(c, checkKind, path, func() (Info, error) { return Check(path) })
	return info, err
}

// Parse validates a bzImage of the given size read from r.
func Parse(r io.ReaderAt, size int64) (Info, error) {
	if size == 0 {
		return Info{}, fmt.Errorf("%w: the file is empty", ErrNotBzImage)
	}
	head := make([]byte, headerEnd)
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return Info{}, fmt.Errorf("read header: %w", err)
	}
	head = head[:n]
	if what := identify(head); what != "" {
		return Info{}, fmt.Errorf("%w: this is %s", ErrNotBzImage, what)
	}
	if len(head) < headerEnd {
		return Info{}, fmt.Errorf("%w: only %d bytes, too short for a boot sector and setup header", ErrNotBzImage, size)
	}
	if head[offBootFlag] != 0x55 || head[offBootFlag+1] != 0xaa {
		return Info{}, fmt.Errorf("%w: no 0x55AA boot-sector signature at offset 0x1fe", ErrNotBzImage)
	}
	if string(head[offHeaderMagic:offHeaderMagic+4]) != "HdrS" {
		return Info{}, fmt.Errorf("%w: no \"HdrS\" setup-header magic at offset 0x202 (a zImage from before boot protocol 2.00, or not a kernel)", ErrNotBzImage)
	}
	info := Info{FileSize: size, Protocol: binary.LittleEndian.Uint16(head[offVersion:])}
	if info.Protocol < minProtocol || info.Protocol > 0x02ff {
		return Info{}, fmt.Errorf("%w: implausible boot protocol version %#04x", ErrNotBzImage, info.Protocol)
	}
	if info.Protocol < bzImageProtocol || head[offLoadFlags]&loadedHigh == 0 {
		return Info{}, fmt.Errorf("%w: a zImage (protocol %#04x, not loaded high); build the bzImage target", ErrNotBzImage, info.Protocol)
	}
	setupSects := int64(head[offSetupSects])
	if setupSects == 0 {
		setupSects = 4 // as the boot protocol specifies for old images
	}
	info.SetupSize = (setupSects + 1) * 512
	info.PayloadSize = int64(binary.LittleEndian.Uint32(head[offSysSize:])) * 16
	declared := info.SetupSize + info.PayloadSize
	if info.PayloadSize == 0 {
		return Info{}, fmt.Errorf("%w: the header declares an empty protected-mode payload", ErrNotBzImage)
	}
	if size < declared {
		return Info{}, fmt.Errorf("%w: truncated: the header declares %d bytes (setup %d + payload %d), the file has %d", ErrNotBzImage, declared, info.SetupSize, info.PayloadSize, size)
	}
	if kv := binary.LittleEndian.Uint16(head[offKernelVer:]); kv != 0 {
		off := int64(kv) + 0x200
		if off >= info.SetupSize {
			return Info{}, fmt.Errorf("%w: kernel version pointer %#x lies outside the setup code (%d bytes): corrupted header", ErrNotBzImage, off, info.SetupSize)
		}
		buf := make([]byte, 256)
		n, _ := r.ReadAt(buf, off)
		buf = buf[:n]
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			buf = buf[:i]
		}
		info.Version = string(buf)
		if !printable(info.Version) || info.Version == "" {
			return Info{}, fmt.Errorf("%w: the kernel version string at %#x is not text: corrupted header", ErrNotBzImage, off)
		}
		info.Release = firstWord(info.Version)
	}
	// arch/x86/boot/tools/build.c ends the image with a CRC32 over all
	// bytes before it (initial value ~0, no final inversion). Signing a
	// kernel for Secure Boot (as distributions do) rewrites PE header
	// fields and so breaks that CRC, but sets the PE checksum over the
	// whole signed file instead; either one intact means the bytes are the
	// ones the build or the signer wrote.
	ok, err := checkCRC(r, declared)
	if err != nil {
		return Info{}, fmt.Errorf("read image: %w", err)
	}
	if ok {
		info.Integrity = "build CRC32"
		return info, nil
	}
	stored, computed, err := peChecksum(r, size)
	if err != nil {
		return Info{}, fmt.Errorf("read image: %w", err)
	}
	if stored != 0 && stored == computed {
		info.Integrity = "PE checksum"
		return info, nil
	}
	return Info{}, fmt.Errorf("%w: corrupted: neither the build's CRC32 at byte %d nor a PE checksum matches the contents", ErrNotBzImage, declared-4)
}

// peChecksum computes the PE/COFF image checksum (16-bit one's-complement
// style sum of the file with the CheckSum field as zero, plus the file
// length) and returns it with the stored value. A file without a PE
// header yields zeros.
func peChecksum(r io.ReaderAt, size int64) (stored, computed uint32, err error) {
	var hdr [0x40]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return 0, 0, err
	}
	pe := int64(binary.LittleEndian.Uint32(hdr[0x3c:]))
	var sig [4]byte
	if pe <= 0 || pe+24+68 > size {
		return 0, 0, nil
	}
	if _, err := r.ReadAt(sig[:], pe); err != nil || string(sig[:]) != "PE\x00\x00" {
		return 0, 0, nil
	}
	ckOff := pe + 24 + 64 // CheckSum in the optional header
	data, err := io.ReadAll(io.NewSectionReader(r, 0, size))
	if err != nil {
		return 0, 0, err
	}
	stored = binary.LittleEndian.Uint32(data[ckOff:])
	var sum uint64
	for i := int64(0); i+1 < int64(len(data)); i += 2 {
		if i == ckOff || i == ckOff+2 {
			continue
		}
		sum += uint64(binary.LittleEndian.Uint16(data[i:]))
		sum = (sum & 0xffff) + (sum >> 16)
	}
	if len(data)%2 == 1 {
		sum += uint64(data[len(data)-1])
	}
	sum = (sum & 0xffff) + (sum >> 16)
	return stored, uint32(sum) + uint32(size), nil
}

func checkCRC(r io.ReaderAt, declared int64) (bool, error) {
	h := crc32.NewIEEE()
	if _, err := io.Copy(h, io.NewSectionReader(r, 0, declared-4)); err != nil {
		return false, err
	}
	var tail [4]byte
	if _, err := r.ReadAt(tail[:], declared-4); err != nil {
		return false, err
	}
	// Go's IEEE CRC inverts at both ends; build.c inverts at neither.
	return ^h.Sum32() == binary.LittleEndian.Uint32(tail[:]), nil
}

// identify names common wrong inputs by their magic numbers.
func identify(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return "an ELF file (vmlinux?); pass arch/x86/boot/bzImage instead"
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return "gzip-compressed data; decompress it first or pass the bzImage itself"
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z'}):
		return "xz-compressed data; decompress it first"
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return "zstd-compressed data; decompress it first"
	case len(b) >= 0x3c && string(b[0x38:0x3c]) == "ARM\x64":
		return "an arm64 kernel Image; vmtest boots x86-64 bzImages"
	case len(b) >= 0x28 && binary.LittleEndian.Uint32(b[0x24:]) == 0x016f2818:
		return "a 32-bit ARM zImage; vmtest boots x86-64 bzImages"
	case bytes.HasPrefix(b, []byte("070701")) || bytes.HasPrefix(b, []byte("070702")):
		return "a cpio archive (an initramfs?), not a kernel"
	}
	return ""
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

func firstWord(s string) string {
	if i := bytes.IndexByte([]byte(s), ' '); i >= 0 {
		return s[:i]
	}
	return s
}
