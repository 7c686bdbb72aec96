package bzimage

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/fileid"
	"github.com/vmtest/vmtest/internal/testutils"
)

const testVersion = testutils.BzImageVersion

// image is a synthetic bzImage (testutils.BzImage) to vary field by field.
type image = testutils.BzImage

func defaultImage() image { return testutils.DefaultBzImage() }

// putCRC writes build.c's trailer (testutils.PutBuildCRC).
func putCRC(b []byte, declared int) { testutils.PutBuildCRC(b, declared) }

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPutCRCMatchesStdlib(t *testing.T) {
	// The helper must agree with the documented relation to Go's CRC, or
	// the valid-image tests would prove nothing.
	b := make([]byte, 104)
	copy(b, "123456789")
	putCRC(b, len(b))
	want := ^crc32.ChecksumIEEE(b[:100])
	if got := binary.LittleEndian.Uint32(b[100:]); got != want {
		t.Fatalf("putCRC = %#x, want %#x", got, want)
	}
}

func TestCheckValid(t *testing.T) {
	tests := []struct {
		name string
		im   func() image
		want Info
	}{
		{
			name: "plain",
			im:   defaultImage,
			want: Info{Version: testVersion, Release: "6.1.99-fake", Protocol: 0x020f, SetupSize: 2048, PayloadSize: 64, FileSize: 2112, Integrity: "build CRC32"},
		},
		{
			name: "protocol 2.04 exactly",
			im: func() image {
				im := defaultImage()
				im.Protocol = 0x0204
				return im
			},
			want: Info{Version: testVersion, Release: "6.1.99-fake", Protocol: 0x0204, SetupSize: 2048, PayloadSize: 64, FileSize: 2112, Integrity: "build CRC32"},
		},
		{
			name: "setup_sects 0 means 4",
			im: func() image {
				im := defaultImage()
				im.SetupSects = 0
				return im
			},
			want: Info{Version: testVersion, Release: "6.1.99-fake", Protocol: 0x020f, SetupSize: 2560, PayloadSize: 64, FileSize: 2624, Integrity: "build CRC32"},
		},
		{
			name: "appended signature",
			im: func() image {
				im := defaultImage()
				im.Extra = 300
				return im
			},
			want: Info{Version: testVersion, Release: "6.1.99-fake", Protocol: 0x020f, SetupSize: 2048, PayloadSize: 64, FileSize: 2412, Integrity: "build CRC32"},
		},
		{
			name: "no version pointer",
			im: func() image {
				im := defaultImage()
				im.KVPtr = 0
				return im
			},
			want: Info{Protocol: 0x020f, SetupSize: 2048, PayloadSize: 64, FileSize: 2112, Integrity: "build CRC32"},
		},
		{
			name: "version without spaces",
			im: func() image {
				im := defaultImage()
				im.Version = "6.1.0"
				return im
			},
			want: Info{Version: "6.1.0", Release: "6.1.0", Protocol: 0x020f, SetupSize: 2048, PayloadSize: 64, FileSize: 2112, Integrity: "build CRC32"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "bzImage", tt.im().Bytes())
			got, err := Check(p)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if got != tt.want {
				t.Errorf("Check =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// peImage is a valid image whose build CRC is broken (as signing does) but
// which carries a correct PE checksum.
func peImage(t *testing.T, breakPE bool) []byte {
	t.Helper()
	im := defaultImage()
	im.Extra = 301 // odd length exercises the trailing-byte rule
	b := im.Bytes()
	const pe = 0x280
	binary.LittleEndian.PutUint32(b[0x3c:], pe)
	copy(b[pe:], "PE\x00\x00")
	b[0x700] ^= 0xff // breaks the build CRC
	ck := pe + 24 + 64
	binary.LittleEndian.PutUint32(b[ck:], 0)
	// Reference PE checksum: 16-bit words, carries folded, plus the length.
	var sum uint32
	for i := 0; i < len(b); i += 2 {
		w := uint32(b[i])
		if i+1 < len(b) {
			w |= uint32(b[i+1]) << 8
		}
		sum += w
		sum = sum&0xffff + sum>>16
	}
	sum += uint32(len(b))
	if breakPE {
		sum++
	}
	binary.LittleEndian.PutUint32(b[ck:], sum)
	return b
}

func TestCheckPEChecksum(t *testing.T) {
	p := writeFile(t, "vmlinuz", peImage(t, false))
	got, err := Check(p)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	want := Info{Version: testVersion, Release: "6.1.99-fake", Protocol: 0x020f, SetupSize: 2048, PayloadSize: 64, FileSize: 2413, Integrity: "PE checksum"}
	if got != want {
		t.Errorf("Check =\n%+v\nwant\n%+v", got, want)
	}

	p = writeFile(t, "vmlinuz", peImage(t, true))
	_, err = Check(p)
	if !errors.Is(err, ErrNotBzImage) || !strings.Contains(err.Error(), "corrupted: neither the build's CRC32 at byte 2108 nor a PE checksum matches") {
		t.Errorf("Check with bad PE checksum: %v", err)
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCheckRejectsContent(t *testing.T) {
	valid := defaultImage().Bytes()
	mutate := func(f func(b []byte)) []byte {
		b := bytes.Clone(valid)
		f(b)
		return b
	}
	withImage := func(f func(im *image)) []byte {
		im := defaultImage()
		f(&im)
		return im.Bytes()
	}
	rnd := make([]byte, 4096)
	r := rand.New(rand.NewChaCha8([32]byte{1, 2, 3}))
	for i := range rnd {
		rnd[i] = byte(r.Uint32())
	}
	arm64 := make([]byte, 4096)
	copy(arm64[0x38:], "ARM\x64")
	arm32 := make([]byte, 4096)
	binary.LittleEndian.PutUint32(arm32[0x24:], 0x016f2818)

	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "the file is empty"},
		{"random bytes", rnd, "no 0x55AA boot-sector signature at offset 0x1fe"},
		{"ELF", append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 4096)...), "this is an ELF file (vmlinux?); pass arch/x86/boot/bzImage instead"},
		{"arm64 Image", arm64, "this is an arm64 kernel Image; vmtest boots x86-64 bzImages"},
		{"arm32 zImage", arm32, "this is a 32-bit ARM zImage"},
		{"gzip of a bzImage", gzipped(t, valid), "this is gzip-compressed data; decompress it first"},
		{"xz", []byte("\xfd7zXZ\x00rest"), "this is xz-compressed data"},
		{"zstd", []byte("\x28\xb5\x2f\xfdrest"), "this is zstd-compressed data"},
		{"cpio", []byte("070701000000"), "this is a cpio archive (an initramfs?), not a kernel"},
		{"shorter than the header", valid[:0x100], "only 256 bytes, too short for a boot sector and setup header"},
		{"truncated", valid[:len(valid)-100], "truncated: the header declares 2112 bytes (setup 2048 + payload 64), the file has 2012"},
		{"one flipped payload byte", mutate(func(b []byte) { b[2050] ^= 0x01 }), "corrupted: neither the build's CRC32 at byte 2108 nor a PE checksum matches the contents"},
		{"flipped CRC byte", mutate(func(b []byte) { b[2111] ^= 0x80 }), "corrupted: neither the build's CRC32 at byte 2108"},
		{"no HdrS", mutate(func(b []byte) { copy(b[0x202:], "HdrX") }), `no "HdrS" setup-header magic at offset 0x202`},
		{"old protocol", withImage(func(im *image) { im.Protocol = 0x0202 }), "a zImage (protocol 0x0202, not loaded high); build the bzImage target"},
		{"not loaded high", withImage(func(im *image) { im.LoadFlags = 0 }), "a zImage (protocol 0x020f, not loaded high)"},
		{"protocol too old", withImage(func(im *image) { im.Protocol = 0x0105 }), "implausible boot protocol version 0x0105"},
		{"protocol too new", withImage(func(im *image) { im.Protocol = 0x0300 }), "implausible boot protocol version 0x0300"},
		{"empty payload", mutate(func(b []byte) { binary.LittleEndian.PutUint32(b[0x1f4:], 0) }), "the header declares an empty protected-mode payload"},
		{"version pointer outside setup", mutate(func(b []byte) { binary.LittleEndian.PutUint16(b[0x20e:], 0x600) }), "kernel version pointer 0x800 lies outside the setup code (2048 bytes): corrupted header"},
		{"version not text", withImage(func(im *image) { im.Version = "6.1\x01\x02" }), "the kernel version string at 0x300 is not text: corrupted header"},
		{"version empty", withImage(func(im *image) { im.Version = "" }), "the kernel version string at 0x300 is not text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeFile(t, "image", tt.data)
			info, err := Check(p)
			if err == nil {
				t.Fatalf("Check succeeded: %+v", info)
			}
			if !errors.Is(err, ErrNotBzImage) {
				t.Errorf("error %q does not wrap ErrNotBzImage", err)
			}
			if !strings.HasPrefix(err.Error(), p+": ") {
				t.Errorf("error %q does not start with the path", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q spans lines", err)
			}
			if info != (Info{}) {
				t.Errorf("Info on error = %+v, want zero", info)
			}
		})
	}
}

func TestCheckRejectsPath(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		want string
	}{
		{"missing", filepath.Join(dir, "nope"), filepath.Join(dir, "nope") + ": no such file (pass the path of a bzImage, e.g. arch/x86/boot/bzImage)"},
		{"directory", dir, dir + ": is a directory, not a kernel image (pass arch/x86/boot/bzImage inside it)"},
		{"device", "/dev/null", "/dev/null: not a regular file"},
		{"not a directory", filepath.Join("/dev/null", "x"), "/dev/null/x: stat /dev/null/x: not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(tt.path)
			if err == nil {
				t.Fatal("Check succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q, want %q", err, tt.want)
			}
			if errors.Is(err, ErrNotBzImage) {
				t.Errorf("error %q wraps ErrNotBzImage, but the content is not at fault", err)
			}
		})
	}
}

type failingReader struct{ err error }

func (f failingReader) ReadAt([]byte, int64) (int, error) { return 0, f.err }

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Parse(failingReader{boom}, 4096)
	if !errors.Is(err, boom) || err.Error() != "read header: boom" {
		t.Errorf("Parse = %v, want read header: boom", err)
	}
	if errors.Is(err, ErrNotBzImage) {
		t.Errorf("I/O error %v wraps ErrNotBzImage", err)
	}
}

func TestParseFromMemory(t *testing.T) {
	b := defaultImage().Bytes()
	got, err := Parse(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	if got.Release != "6.1.99-fake" || got.Integrity != "build CRC32" || got.FileSize != int64(len(b)) {
		t.Errorf("Parse = %+v", got)
	}
}

func TestCheckRealKernel(t *testing.T) {
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip(err)
	}
	paths, _ := filepath.Glob(filepath.Join(home, ".cache/vmtest/kernels/*/boot/vmlinuz-*"))
	if len(paths) == 0 {
		t.Skip("no cached kernel under ~/.cache/vmtest/kernels")
	}
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			info, err := Check(p)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if !strings.HasPrefix(info.Version, "6.1") {
				t.Errorf("Version = %q, want 6.1...", info.Version)
			}
			if want := strings.TrimPrefix(filepath.Base(p), "vmlinuz-"); info.Release != want {
				t.Errorf("Release = %q, want %q", info.Release, want)
			}
			if info.Integrity != "build CRC32" && info.Integrity != "PE checksum" {
				t.Errorf("Integrity = %q", info.Integrity)
			}
			if info.Protocol < 0x0204 || info.SetupSize+info.PayloadSize > info.FileSize {
				t.Errorf("implausible header: %+v", info)
			}
		})
	}
}

// TestCheckCached: the remembered verdict is Check's, and a file that
// became bad is refused, not answered from the cache; a bad file is
// never remembered.
func TestCheckCached(t *testing.T) {
	good := defaultImage().Bytes()
	path := writeFile(t, "bzImage", good)
	time.Sleep(20 * time.Millisecond)
	c := fileid.Cache{Dir: t.TempDir(), Settle: time.Millisecond}
	want, err := Check(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if got, err := CheckCached(c, path); err != nil || got != want {
			t.Errorf("CheckCached #%d = %+v, %v; want %+v", i+1, got, err, want)
		}
	}
	bad := append([]byte(nil), good...)
	bad[0x1fe] = 0 // the boot signature
	os.WriteFile(path, bad, 0o644)
	time.Sleep(20 * time.Millisecond)
	for i := range 2 {
		if _, err := CheckCached(c, path); !errors.Is(err, ErrNotBzImage) {
			t.Errorf("CheckCached #%d of a broken file: %v, want ErrNotBzImage", i+1, err)
		}
	}
}
