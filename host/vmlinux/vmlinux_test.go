package vmlinux

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// testELF builds an x86-64 ELF executable of about 200 KiB with a PT_LOAD
// segment of pseudo-random code (plenty of E8/E9 bytes, which the x86 BCJ
// filter rewrites) and a PT_NOTE segment holding the given notes.
func testELF(t *testing.T, machine elf.Machine, notes []byte) []byte {
	t.Helper()
	const ehsize, phsize = 64, 56
	body := make([]byte, 200<<10)
	rng := rand.New(rand.NewSource(1))
	for i := range body {
		switch rng.Intn(8) {
		case 0:
			body[i] = 0xe8
		case 1:
			body[i] = 0x00
		case 2:
			body[i] = 0xff
		default:
			body[i] = byte(rng.Intn(256))
		}
	}
	noteOff := uint64(ehsize + 2*phsize)
	loadOff := noteOff + uint64(len(notes))
	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, ehsize)
	copy(hdr, "\x7fELF")
	hdr[4], hdr[5], hdr[6] = byte(elf.ELFCLASS64), byte(elf.ELFDATA2LSB), 1
	le.PutUint16(hdr[16:], uint16(elf.ET_EXEC))
	le.PutUint16(hdr[18:], uint16(machine))
	le.PutUint32(hdr[20:], 1)
	le.PutUint64(hdr[24:], 0x1000000) // entry
	le.PutUint64(hdr[32:], ehsize)    // phoff
	le.PutUint16(hdr[52:], ehsize)
	le.PutUint16(hdr[54:], phsize)
	le.PutUint16(hdr[56:], 2)
	b.Write(hdr)
	ph := func(typ elf.ProgType, off, size uint64) {
		p := make([]byte, phsize)
		le.PutUint32(p, uint32(typ))
		le.PutUint32(p[4:], uint32(elf.PF_R|elf.PF_X))
		le.PutUint64(p[8:], off)
		le.PutUint64(p[16:], 0x1000000+off) // vaddr
		le.PutUint64(p[24:], 0x1000000+off) // paddr
		le.PutUint64(p[32:], size)
		le.PutUint64(p[40:], size)
		le.PutUint64(p[48:], 4)
		b.Write(p)
	}
	ph(elf.PT_NOTE, noteOff, uint64(len(notes)))
	ph(elf.PT_LOAD, loadOff, uint64(len(body)))
	b.Write(notes)
	b.Write(body)
	return b.Bytes()
}

// note encodes one ELF note.
func note(name string, typ uint32, desc []byte) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	b.Write(le.AppendUint32(nil, uint32(len(name)+1)))
	b.Write(le.AppendUint32(nil, uint32(len(desc))))
	b.Write(le.AppendUint32(nil, typ))
	b.WriteString(name + "\x00")
	pad()
	b.Write(desc)
	pad()
	return b.Bytes()
}

// pvhNotes are notes as Linux writes them: others first, then the PVH
// entry as 8 bytes.
var pvhNotes = append(append(note("GNU", 3, make([]byte, 20)), note("Xen", 6, []byte("linux\x00"))...),
	note("Xen", xenElfnotePhys32Entry, binary.LittleEndian.AppendUint64(nil, 0x1000850))...)

// bzImage wraps a payload in a setup header that declares it: setup
// sectors, "HdrS", protocol 2.15, payload_offset and payload_length.
func bzImage(payload []byte) []byte {
	const setupSects = 3
	img := make([]byte, (setupSects+1)*512+0x100)
	img[offSetupSects] = setupSects
	copy(img[offHeaderMagic:], "HdrS")
	binary.LittleEndian.PutUint16(img[offVersion:], 0x020f)
	binary.LittleEndian.PutUint32(img[offPayloadOffset:], 0x100)
	binary.LittleEndian.PutUint32(img[offPayloadLength:], uint32(len(payload)))
	img = append(img, payload...)
	return append(img, make([]byte, 512)...) // the stub's tail, as in a real image
}

// sizeAppended is what the kernel's size_append does after compressing.
func sizeAppended(compressed []byte, n int) []byte {
	return binary.LittleEndian.AppendUint32(compressed, uint32(n))
}

// cli compresses with a command-line tool, as the kernel build does, or
// skips the test when it is not installed.
func cli(t *testing.T, data []byte, name string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Skipf("%s not installed (apt-get install xz-utils bzip2 lz4 zstd)", name)
	}
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// compressors build payloads as scripts/Makefile.lib does for each
// CONFIG_KERNEL_* choice, in Go where a Go encoder exists.
var compressors = []struct {
	name string
	c    Compression
	fn   func(t *testing.T, data []byte) []byte
}{
	{"gzip", Gzip, func(t *testing.T, data []byte) []byte {
		var b bytes.Buffer
		w, _ := gzip.NewWriterLevel(&b, 9)
		w.Write(data)
		w.Close()
		return b.Bytes() // gzip's own trailer ends in the size
	}},
	{"xz x86 BCJ (xz_wrap.sh)", XZ, func(t *testing.T, data []byte) []byte {
		return sizeAppended(cli(t, data, "xz", "--check=crc32", "--x86", "--lzma2=dict=1MiB", "-c"), len(data))
	}},
	{"xz crc64 (Go)", XZ, func(t *testing.T, data []byte) []byte {
		var b bytes.Buffer
		w, err := xz.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
		return sizeAppended(b.Bytes(), len(data))
	}},
	{"xz sha256 two blocks", XZ, func(t *testing.T, data []byte) []byte {
		return sizeAppended(cli(t, data, "xz", "--check=sha256", "--x86", "--lzma2=dict=64KiB", "--block-size=100KiB", "-c"), len(data))
	}},
	{"lzma", LZMA, func(t *testing.T, data []byte) []byte {
		var b bytes.Buffer
		w, err := lzma.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		w.Close()
		return sizeAppended(b.Bytes(), len(data))
	}},
	{"lzma(1)", LZMA, func(t *testing.T, data []byte) []byte {
		return sizeAppended(cli(t, data, "lzma", "-9", "-c"), len(data))
	}},
	{"zstd", Zstd, func(t *testing.T, data []byte) []byte {
		w, _ := zstd.NewWriter(nil)
		return sizeAppended(w.EncodeAll(data, nil), len(data))
	}},
	{"lz4 legacy (Go)", LZ4, func(t *testing.T, data []byte) []byte {
		// Two blocks, the second after a repeated magic, as
		// concatenated legacy frames have.
		out := binary.LittleEndian.AppendUint32(nil, lz4LegacyMagic)
		for i, part := range [][]byte{data[:len(data)/2], data[len(data)/2:]} {
			if i == 1 {
				out = binary.LittleEndian.AppendUint32(out, lz4LegacyMagic)
			}
			buf := make([]byte, lz4.CompressBlockBound(len(part)))
			n, err := lz4.CompressBlock(part, buf, nil)
			if err != nil || n == 0 {
				t.Fatalf("lz4: %d, %v", n, err)
			}
			out = binary.LittleEndian.AppendUint32(out, uint32(n))
			out = append(out, buf[:n]...)
		}
		return sizeAppended(out, len(data))
	}},
	{"lz4 -l", LZ4, func(t *testing.T, data []byte) []byte {
		return sizeAppended(cli(t, data, "lz4", "-l", "-9", "-c"), len(data))
	}},
	{"bzip2", Bzip2, func(t *testing.T, data []byte) []byte {
		return sizeAppended(cli(t, data, "bzip2", "-9", "-c"), len(data))
	}},
	{"uncompressed", None, func(t *testing.T, data []byte) []byte {
		return data // CONFIG_KERNEL_UNCOMPRESSED appends no size
	}},
}

func writeKernel(t *testing.T, img []byte) (path, sum string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "bzImage")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(img)
	return path, hex.EncodeToString(s[:])
}

func TestResolveEachCompression(t *testing.T) {
	kernel := testELF(t, elf.EM_X86_64, pvhNotes)
	for _, c := range compressors {
		t.Run(c.name, func(t *testing.T) {
			path, sum := writeKernel(t, bzImage(c.fn(t, kernel)))
			img := Resolve(context.Background(), path, sum, t.TempDir())
			if img.Note != "" || img.ELF == "" {
				t.Fatalf("no ELF: %+v", img)
			}
			if img.Compression != c.c || img.Entry != 0x1000850 || img.From != "extracted" {
				t.Errorf("got %+v, want compression %s, entry 0x1000850, extracted", img, c.c)
			}
			got, err := os.ReadFile(img.ELF)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, kernel) {
				t.Errorf("the extracted ELF differs from the one compressed (%d bytes, want %d)", len(got), len(kernel))
			}
		})
	}
}

func TestResolveBootsBzImageWithNote(t *testing.T) {
	good := testELF(t, elf.EM_X86_64, pvhNotes)
	gz := func(data []byte) []byte {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(data)
		w.Close()
		return b.Bytes()
	}
	zst := func(data []byte) []byte {
		w, _ := zstd.NewWriter(nil)
		return sizeAppended(w.EncodeAll(data, nil), len(data))
	}
	corrupt := func(p []byte) []byte {
		p = append([]byte(nil), p...)
		for i := len(p) / 3; i < len(p)/3+64; i++ {
			p[i] ^= 0x5a
		}
		return p
	}
	tests := []struct {
		name    string
		payload []byte
		note    string
	}{
		{"no PVH note", gz(testELF(t, elf.EM_X86_64, note("Xen", 6, []byte("linux\x00")))), "no PVH entry note"},
		{"not x86-64", gz(testELF(t, elf.EM_AARCH64, pvhNotes)), "not an x86-64 ELF kernel"},
		{"not ELF", gz(bytes.Repeat([]byte("kernel"), 1000)), "not an x86-64 ELF kernel"},
		{"corrupt gzip", corrupt(gz(good)), "corrupt payload"},
		{"corrupt zstd", corrupt(zst(good)), "corrupt payload"},
		{"wrong declared size", sizeAppended(zst(good)[:len(zst(good))-4], len(good)+1), "the payload declares"},
		{"implausible declared size", sizeAppended(zst(good)[:len(zst(good))-4], 0xffffffff), "the payload declares 4294967295"},
		{"LZO", append([]byte{0x89, 'L', 'Z', 'O', 0, 0x0d}, make([]byte, 100)...), "lzo is not decompressed by vmtest"},
		{"unknown", append([]byte("MYZIP!"), make([]byte, 100)...), "unknown compression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, sum := writeKernel(t, bzImage(tt.payload))
			img := Resolve(context.Background(), path, sum, t.TempDir())
			if img.ELF != "" || !strings.Contains(img.Note, tt.note) {
				t.Errorf("got %+v, want the bzImage with a note containing %q", img, tt.note)
			}
		})
	}
}

func TestCorruptXZ(t *testing.T) {
	kernel := testELF(t, elf.EM_X86_64, pvhNotes)
	payload := compressors[1].fn(t, kernel)
	tests := []struct {
		name string
		at   func(p []byte) int
	}{
		{"stream header", func(p []byte) int { return 7 }},
		{"block header", func(p []byte) int { return 13 }},
		{"compressed data", func(p []byte) int { return len(p) / 2 }},
		{"block check", func(p []byte) int {
			// The check is the 4 bytes before the index, which is
			// followed by the 12-byte footer and the size.
			return len(p) - 4 - 12 - 4 - 12 - 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := append([]byte(nil), payload...)
			p[tt.at(p)] ^= 0x01
			_, err := Decompress(context.Background(), XZ, p)
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsupported) {
				t.Errorf("Decompress of a payload with a flipped bit in the %s: %v, want a corrupt-payload error", tt.name, err)
			}
		})
	}
}

func TestBCJX86Roundtrip(t *testing.T) {
	// xz --x86 encodes, bcjX86 must decode to the original exactly, also
	// with a start offset.
	data := testELF(t, elf.EM_X86_64, pvhNotes)
	for _, start := range []uint32{0, 0x1000} {
		raw := cli(t, data, "xz", "--format=raw", "--x86=start="+map[uint32]string{0: "0", 0x1000: "4096"}[start], "--lzma2=dict=1MiB", "-c")
		cmd := exec.Command("xz", "--format=raw", "--lzma2=dict=1MiB", "-dc")
		cmd.Stdin = bytes.NewReader(raw)
		filtered, err := cmd.Output() // LZMA2 undone, BCJ still applied
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(filtered, data) {
			t.Fatal("the BCJ filter changed nothing: the test data has no CALLs")
		}
		bcjX86(filtered, start)
		if !bytes.Equal(filtered, data) {
			t.Errorf("start %#x: BCJ decode differs from the original", start)
		}
	}
}

func TestResolveCache(t *testing.T) {
	kernel := testELF(t, elf.EM_X86_64, pvhNotes)
	root := t.TempDir()
	path, sum := writeKernel(t, bzImage(compressors[0].fn(t, kernel)))
	first := Resolve(context.Background(), path, sum, root)
	if first.From != "extracted" || first.ELF != filepath.Join(root, "vmlinux", sum+".elf") {
		t.Fatalf("first: %+v", first)
	}
	// The warm path does not read the bzImage at all.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	second := Resolve(context.Background(), path, sum, root)
	if second.From != "cache" || second.ELF != first.ELF || second.Compression != Gzip || second.Entry != first.Entry {
		t.Errorf("second: %+v, want the cached ELF", second)
	}
	// A verdict whose ELF is gone is not trusted.
	os.Remove(first.ELF)
	if third := Resolve(context.Background(), path, sum, root); third.ELF != "" || third.From == "cache" {
		t.Errorf("with the ELF gone and no bzImage: %+v, want a fresh attempt", third)
	}
	entries, _ := os.ReadDir(filepath.Join(root, "vmlinux"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestResolveCachesNegativeVerdict(t *testing.T) {
	root := t.TempDir()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write(testELF(t, elf.EM_X86_64, nil))
	w.Close()
	path, sum := writeKernel(t, bzImage(b.Bytes()))
	first := Resolve(context.Background(), path, sum, root)
	os.Remove(path)
	second := Resolve(context.Background(), path, sum, root)
	if second.From != "cache" || second.Note != first.Note || first.Note == "" {
		t.Errorf("first %+v, second %+v: want the note cached", first, second)
	}
	// An older extractor's verdict is reached again.
	v := filepath.Join(root, "vmlinux", sum+".json")
	data, _ := os.ReadFile(v)
	os.WriteFile(v, bytes.Replace(data, []byte(`"extractor_version": 1`), []byte(`"extractor_version": 0`), 1), 0o644)
	if third := Resolve(context.Background(), path, sum, root); third.From == "cache" {
		t.Errorf("an old extractor's verdict was used: %+v", third)
	}
}

func TestResolveUsesBuildVmlinux(t *testing.T) {
	kernel := testELF(t, elf.EM_X86_64, pvhNotes)
	path, sum := writeKernel(t, bzImage(compressors[0].fn(t, kernel)))
	vm := filepath.Join(filepath.Dir(path), "vmlinux")
	os.WriteFile(vm, kernel, 0o644)
	for _, tt := range []struct {
		name, manifest, from string
	}{
		{"matching", `{"bzimage_sha256": "` + sum + `", "vmlinux": "` + vm + `"}`, "build"},
		{"another bzImage's", `{"bzimage_sha256": "00` + sum[2:] + `", "vmlinux": "` + vm + `"}`, "extracted"},
		{"no vmlinux", `{"bzimage_sha256": "` + sum + `"}`, "extracted"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.WriteFile(filepath.Join(filepath.Dir(path), "manifest.json"), []byte(tt.manifest), 0o644)
			img := Resolve(context.Background(), path, sum, t.TempDir())
			if img.From != tt.from || img.ELF == "" {
				t.Errorf("got %+v, want an ELF from %s", img, tt.from)
			}
		})
	}
}

// TestResolveBuildWithoutPVH: a build whose own vmlinux has no PVH note
// boots its bzImage, decided from that ELF without decompressing the
// payload (here corrupt, so that decompressing would say so instead).
func TestResolveBuildWithoutPVH(t *testing.T) {
	path, sum := writeKernel(t, bzImage(bytes.Repeat([]byte{0x1f, 0x8b, 8, 0}, 64)))
	vm := filepath.Join(filepath.Dir(path), "vmlinux")
	os.WriteFile(vm, testELF(t, elf.EM_X86_64, note("Xen", 6, []byte("linux\x00"))), 0o644)
	os.WriteFile(filepath.Join(filepath.Dir(path), "manifest.json"), []byte(`{"bzimage_sha256": "`+sum+`", "vmlinux": "`+vm+`"}`), 0o644)
	root := t.TempDir()
	img := Resolve(context.Background(), path, sum, root)
	if img.ELF != "" || img.Note != noPVHNote {
		t.Errorf("got %+v, want the bzImage for want of a PVH note", img)
	}
	if m, _ := filepath.Glob(filepath.Join(root, "vmlinux", "*")); len(m) > 0 {
		t.Errorf("extracted or cached %v: the build's ELF had already answered", m)
	}
}

func TestDecompressStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	payload := compressors[0].fn(t, testELF(t, elf.EM_X86_64, pvhNotes))
	if _, err := Decompress(ctx, Gzip, payload); !errors.Is(err, context.Canceled) {
		t.Errorf("Decompress with a cancelled context: %v", err)
	}
}
