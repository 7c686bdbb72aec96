package testutils

import (
	"encoding/binary"
	"os"
	"path/filepath"
)

// ELF machine numbers for ELF.
const (
	EMX8664   = 62
	EMAArch64 = 183
)

// ELF returns a minimal ELF64 executable for machine with one PT_LOAD
// program header and, if interp, a PT_INTERP one naming glibc's loader:
// what the static-binary checks of the guest agent look at, and nothing
// that could run.
func ELF(machine uint16, interp bool) []byte {
	const ehsize, phsize = 64, 56
	nph := 1
	if interp {
		nph = 2
	}
	b := make([]byte, ehsize+nph*phsize+32)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1 // 64-bit, little-endian, version 1
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2) // ET_EXEC
	le.PutUint16(b[18:], machine)
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], 0x400000)
	le.PutUint64(b[32:], ehsize) // e_phoff
	le.PutUint16(b[52:], ehsize)
	le.PutUint16(b[54:], phsize)
	le.PutUint16(b[56:], uint16(nph))
	le.PutUint16(b[58:], 64) // e_shentsize
	ph := b[ehsize:]
	le.PutUint32(ph[0:], 1) // PT_LOAD
	le.PutUint32(ph[4:], 5)
	le.PutUint64(ph[16:], 0x400000)
	le.PutUint64(ph[24:], 0x400000)
	le.PutUint64(ph[32:], uint64(len(b)))
	le.PutUint64(ph[40:], uint64(len(b)))
	if interp {
		ph = b[ehsize+phsize:]
		off := ehsize + 2*phsize
		copy(b[off:], "/lib64/ld-linux-x86-64.so.2\x00")
		le.PutUint32(ph[0:], 3) // PT_INTERP
		le.PutUint32(ph[4:], 4)
		le.PutUint64(ph[8:], uint64(off))
		le.PutUint64(ph[32:], 28)
		le.PutUint64(ph[40:], 28)
	}
	return b
}

// WriteStaticAgent writes a static x86-64 ELF to dir/agent and returns the
// path: a guest agent every check accepts, for tests that replace the
// boot and so never run it.
func WriteStaticAgent(dir string) (string, error) {
	p := filepath.Join(dir, "agent")
	return p, os.WriteFile(p, ELF(EMX8664, false), 0o755)
}
