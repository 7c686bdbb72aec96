// Package fakekernel writes synthetic x86 bzImages that pass vmtest's
// header checks (host/bzimage) without being bootable, for tests that
// need a kernel a command accepts but must never boot.
package fakekernel

import (
	"encoding/binary"
	"os"
	"path/filepath"
)

// Version is the version string the image's header points to.
const Version = "6.1.99-fake (tests@vmtest) #1 SMP PREEMPT_DYNAMIC"

// Image returns a bzImage laid out as arch/x86/boot/tools/build.c lays
// one out: three setup sectors after the boot sector, a 64-byte payload,
// boot protocol 2.15 and build.c's CRC trailer.
func Image() []byte {
	const sects, payload = 3, 64
	setup := (sects + 1) * 512
	declared := setup + payload
	b := make([]byte, declared)
	b[0x1f1] = sects
	binary.LittleEndian.PutUint32(b[0x1f4:], payload/16)
	b[0x1fe], b[0x1ff] = 0x55, 0xaa
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x020f)
	binary.LittleEndian.PutUint16(b[0x20e:], 0x100)
	b[0x211] = 0x01 // LOADED_HIGH
	copy(b[0x100+0x200:], Version+"\x00")
	for i := setup; i < declared-4; i++ {
		b[i] = byte(i * 7)
	}
	// CRC32 with init ~0 and no final inversion over everything before it.
	crc := uint32(0xffffffff)
	for _, c := range b[:declared-4] {
		crc ^= uint32(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ 0xedb88320
			} else {
				crc >>= 1
			}
		}
	}
	binary.LittleEndian.PutUint32(b[declared-4:], crc)
	return b
}

// Write writes Image to dir/bzImage and returns the path.
func Write(dir string) (string, error) {
	p := filepath.Join(dir, "bzImage")
	return p, os.WriteFile(p, Image(), 0o644)
}
