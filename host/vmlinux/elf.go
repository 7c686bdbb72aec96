package vmlinux

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
)

// xenElfnotePhys32Entry is XEN_ELFNOTE_PHYS32_ENTRY: the 32-bit physical
// entry point of the PVH boot ABI (include/xen/interface/elfnote.h), in a
// note named "Xen". QEMU boots an ELF -kernel through it.
const xenElfnotePhys32Entry = 18

// CheckPVH checks that r is an x86-64 ELF executable with a PVH entry
// note and returns the entry point the note gives. Only the headers and
// the notes are read.
func CheckPVH(r io.ReaderAt) (entry uint64, err error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrNotELF, err)
	}
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC {
		return 0, fmt.Errorf("%w: %s %s %s", ErrNotELF, f.Class, f.Machine, f.Type)
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_NOTE {
			continue
		}
		notes, err := io.ReadAll(io.LimitReader(p.Open(), 1<<20))
		if err != nil {
			return 0, fmt.Errorf("%w: read notes: %v", ErrNotELF, err)
		}
		if e, ok := pvhEntry(notes, f.ByteOrder); ok {
			return e, nil
		}
	}
	return 0, ErrNoPVH
}

// pvhEntry finds the PVH entry note in a PT_NOTE segment's contents.
func pvhEntry(b []byte, bo binary.ByteOrder) (uint64, bool) {
	align := func(n uint32) int { return int((n + 3) &^ 3) }
	for len(b) >= 12 {
		namesz, descsz, typ := bo.Uint32(b), bo.Uint32(b[4:]), bo.Uint32(b[8:])
		b = b[12:]
		if align(namesz) > len(b) {
			return 0, false
		}
		name := b[:namesz]
		b = b[align(namesz):]
		if align(descsz) > len(b) {
			return 0, false
		}
		desc := b[:descsz]
		b = b[align(descsz):]
		if typ != xenElfnotePhys32Entry || !bytes.Equal(bytes.TrimRight(name, "\x00"), []byte("Xen")) {
			continue
		}
		switch len(desc) {
		case 4:
			return uint64(bo.Uint32(desc)), true
		case 8:
			return bo.Uint64(desc), true
		}
		return 0, false
	}
	return 0, false
}
