package mutate

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"strings"
)

// CodeDigest hashes what an object file puts into the kernel: every
// allocated section (.text*, .rodata*, .data*, the sizes of .bss*, and
// the tables such as __bug_table and __ex_table), each with its
// relocations resolved to symbol names. Left out are the sections that
// do not reach the running code: debug info, .comment, .note*, symbol
// and string tables.
//
// Relocations matter: a call to ns_capable and one to
// checkpoint_restore_ns_capable assemble to the same bytes (a zero
// displacement) and differ only in the symbol the linker fills in.
// Symbols are named rather than numbered since a mutant can change the
// symbol table's order. Line numbers (__LINE__ in WARN_ON and BUG_ON,
// stored in .rodata and __bug_table) cannot differ, because mutants
// never shift a line; were they allowed to, every mutant above a WARN
// would compare as different code.
func CodeDigest(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("read object %s: %w", path, err)
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 {
		return "", fmt.Errorf("read object %s: only 64-bit ELF objects are compared (this is %s)", path, f.Class)
	}
	syms, err := f.Symbols()
	if err != nil && err != elf.ErrNoSymbols {
		return "", fmt.Errorf("read symbols of %s: %w", path, err)
	}
	relocs := map[int][]*elf.Section{}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_RELA || s.Type == elf.SHT_REL {
			relocs[int(s.Info)] = append(relocs[int(s.Info)], s)
		}
	}
	type sect struct {
		idx  int
		name string
	}
	var keep []sect
	for i, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 || s.Type == elf.SHT_NOTE || strings.HasPrefix(s.Name, ".note") {
			continue
		}
		keep = append(keep, sect{i, s.Name})
	}
	// By name, so that a section that moved in the table compares equal;
	// sections of one name (COMDAT groups) keep their relative order.
	sort.SliceStable(keep, func(i, j int) bool { return keep[i].name < keep[j].name })
	h := sha256.New()
	for _, k := range keep {
		s := f.Sections[k.idx]
		fmt.Fprintf(h, "section %s type %d flags %d size %d align %d\n", s.Name, s.Type, s.Flags, s.Size, s.Addralign)
		if s.Type != elf.SHT_NOBITS {
			data, err := s.Data()
			if err != nil {
				return "", fmt.Errorf("read section %s of %s: %w", s.Name, path, err)
			}
			h.Write(data)
		}
		for _, r := range relocs[k.idx] {
			if err := hashRelocs(h, f, r, syms); err != nil {
				return "", fmt.Errorf("read relocations %s of %s: %w", r.Name, path, err)
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// hashRelocs writes each relocation as offset, type, symbol name and
// addend. A section symbol is named by its section.
func hashRelocs(h hash.Hash, f *elf.File, r *elf.Section, syms []elf.Symbol) error {
	data, err := r.Data()
	if err != nil {
		return err
	}
	size := 16
	if r.Type == elf.SHT_RELA {
		size = 24
	}
	if len(data)%size != 0 {
		return fmt.Errorf("size %d is not a multiple of %d", len(data), size)
	}
	bo := f.ByteOrder
	for off := 0; off < len(data); off += size {
		roff := bo.Uint64(data[off:])
		info := bo.Uint64(data[off+8:])
		var addend int64
		if r.Type == elf.SHT_RELA {
			addend = int64(bo.Uint64(data[off+16:]))
		}
		symIdx := elf.R_SYM64(info)
		name := ""
		if symIdx > 0 {
			// debug/elf drops the null symbol 0 from Symbols().
			if int(symIdx) > len(syms) {
				return fmt.Errorf("relocation at %#x names symbol %d of %d", roff, symIdx, len(syms))
			}
			s := syms[symIdx-1]
			name = s.Name
			if elf.ST_TYPE(s.Info) == elf.STT_SECTION && int(s.Section) < len(f.Sections) {
				name = "section:" + f.Sections[s.Section].Name
			}
		}
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], roff)
		h.Write(b[:])
		fmt.Fprintf(h, " %d %s %d\n", elf.R_TYPE64(info), name, addend)
	}
	return nil
}

// SameCode reports whether two object files put the same code and data
// into the kernel (see CodeDigest).
func SameCode(a, b string) (bool, error) {
	da, err := CodeDigest(a)
	if err != nil {
		return false, err
	}
	db, err := CodeDigest(b)
	if err != nil {
		return false, err
	}
	return da == db, nil
}
