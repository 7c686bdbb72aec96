package testutils

import (
	"encoding/binary"
	"os"
	"path/filepath"
)

// BzImageVersion is the version string a default BzImage's header points to.
const BzImageVersion = "6.1.99-fake (tests@vmtest) #1 SMP PREEMPT_DYNAMIC"

// LoadedHigh is the loadflags bit of a bzImage (as opposed to a zImage).
const LoadedHigh = 0x01

// BzImage describes a synthetic x86 bzImage: it passes vmtest's header
// checks (host/bzimage) without being bootable, for tests that need a
// kernel a command accepts but must never boot, and, with a field
// changed, for each way a header can be wrong.
type BzImage struct {
	SetupSects byte   // 0x1f1; 0 means 4, as the boot protocol says
	Payload    int    // bytes of protected-mode payload (a multiple of 16)
	Protocol   uint16 // 0x206
	LoadFlags  byte   // 0x211
	KVPtr      uint16 // 0x20e; the version string lives at KVPtr+0x200
	Version    string
	Extra      int // bytes appended after the declared image (a signature)
}

// DefaultBzImage is three setup sectors after the boot sector, a 64-byte
// payload, boot protocol 2.15, loaded high, with BzImageVersion.
func DefaultBzImage() BzImage {
	return BzImage{SetupSects: 3, Payload: 64, Protocol: 0x020f, LoadFlags: LoadedHigh, KVPtr: 0x100, Version: BzImageVersion}
}

// Bytes lays the image out byte for byte as arch/x86/boot/tools/build.c
// does, CRC trailer included.
func (im BzImage) Bytes() []byte {
	sects := int(im.SetupSects)
	if sects == 0 {
		sects = 4
	}
	setup := (sects + 1) * 512
	declared := setup + im.Payload
	b := make([]byte, declared+im.Extra)
	b[0x1f1] = im.SetupSects
	binary.LittleEndian.PutUint32(b[0x1f4:], uint32(im.Payload/16))
	b[0x1fe], b[0x1ff] = 0x55, 0xaa
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], im.Protocol)
	binary.LittleEndian.PutUint16(b[0x20e:], im.KVPtr)
	b[0x211] = im.LoadFlags
	if im.KVPtr != 0 {
		copy(b[int(im.KVPtr)+0x200:], im.Version+"\x00")
	}
	// Recognisable payload bytes.
	for i := setup; i < declared-4; i++ {
		b[i] = byte(i * 7)
	}
	PutBuildCRC(b, declared)
	for i := declared; i < len(b); i++ {
		b[i] = 0xee
	}
	return b
}

// PutBuildCRC writes build.c's trailer into the four bytes before
// declared: CRC32 (initial value ~0, no final inversion) over every byte
// before it.
func PutBuildCRC(b []byte, declared int) {
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
}

// WriteBzImage writes the default image to dir/bzImage and returns the path.
func WriteBzImage(dir string) (string, error) {
	p := filepath.Join(dir, "bzImage")
	return p, os.WriteFile(p, DefaultBzImage().Bytes(), 0o644)
}
