package vmlinux

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmtest/vmtest/internal/atomicfile"
)

// extractorVersion is stored with every cached verdict: a verdict that a
// kernel cannot boot through PVH, reached by an older extractor (one that
// knew fewer compressions, say), is reached again.
const extractorVersion = 1

// Image is how a bzImage boots.
type Image struct {
	// ELF is the uncompressed kernel, with a PVH note, to give QEMU
	// instead of the bzImage; "" means boot the bzImage.
	ELF string `json:"elf,omitempty"`
	// Compression is the bzImage payload's ("" when not known).
	Compression Compression `json:"compression,omitempty"`
	// Entry is the PVH entry point the note gives.
	Entry uint64 `json:"pvh_entry,omitempty"`
	// From says where ELF came from: "build" (the vmlinux `vmtest build`
	// keeps beside its bzImage), "cache", or "extracted" (by this call).
	From string `json:"from,omitempty"`
	// Note says why the bzImage boots as is (ELF is "").
	Note string `json:"note,omitempty"`
	// Version is the extractor's (extractorVersion).
	Version int `json:"extractor_version"`
}

// CacheDir is where Resolve keeps the ELFs and verdicts under a cache root.
func CacheDir(root string) string { return filepath.Join(root, "vmlinux") }

// Resolve decides how the bzImage at path, whose SHA-256 is sum (hex),
// boots: through an uncompressed ELF when it can, as itself otherwise.
// It never fails: what stands in the way of the fast path is in Note.
// The ELF is looked for, in order, beside the bzImage (a `vmtest build`
// entry whose manifest names this bzImage), in the cache under root, and
// else extracted from the bzImage and cached; a kernel that cannot boot
// through PVH is remembered too, so that warm runs do no decompression.
func Resolve(ctx context.Context, path, sum, root string) Image {
	if img, ok := beside(path, sum); ok {
		return img
	}
	dir := CacheDir(root)
	verdict := filepath.Join(dir, sum+".json")
	if img, ok := load(verdict); ok {
		return img
	}
	img := extract(ctx, path, filepath.Join(dir, sum+".elf"))
	if ctx.Err() != nil {
		return img // interrupted: no verdict either way
	}
	if err := save(verdict, img); err != nil && img.Note == "" {
		img.Note = err.Error()
	}
	return img
}

// load reads a cached verdict; a positive one counts only while its ELF
// is still there and still has its note.
func load(path string) (Image, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Image{}, false
	}
	var img Image
	if json.Unmarshal(b, &img) != nil || img.Version != extractorVersion {
		return Image{}, false
	}
	if img.ELF != "" {
		if _, err := checkFile(img.ELF); err != nil {
			return Image{}, false
		}
	}
	img.From = "cache"
	return img, true
}

// beside returns the vmlinux of a `vmtest build` cache entry: its
// manifest.json names the bzImage's SHA-256 and the vmlinux built with it.
func beside(path, sum string) (Image, bool) {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(path), "manifest.json"))
	if err != nil {
		return Image{}, false
	}
	var m struct {
		BzImageSHA256 string `json:"bzimage_sha256"`
		Vmlinux       string `json:"vmlinux"`
	}
	if json.Unmarshal(b, &m) != nil || m.BzImageSHA256 != sum || m.Vmlinux == "" {
		return Image{}, false
	}
	entry, err := checkFile(m.Vmlinux)
	if errors.Is(err, ErrNoPVH) {
		// The build's own ELF says it: nothing to decompress to find out.
		return Image{Note: noPVHNote, Version: extractorVersion}, true
	}
	if err != nil {
		return Image{}, false
	}
	return Image{ELF: m.Vmlinux, Entry: entry, From: "build", Version: extractorVersion}, true
}

// noPVHNote is Image.Note for a kernel built without CONFIG_PVH.
const noPVHNote = "the kernel has no PVH entry note (CONFIG_PVH is off)"

func checkFile(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return CheckPVH(f)
}

// extract decompresses the bzImage's payload into elfPath (through a
// temporary file and a rename, so that a concurrent run sees the whole
// ELF or none) when it is an ELF with a PVH note.
func extract(ctx context.Context, path, elfPath string) Image {
	img := Image{Version: extractorVersion}
	note := func(format string, a ...any) Image {
		img.Note = fmt.Sprintf(format, a...)
		return img
	}
	f, err := os.Open(path)
	if err != nil {
		return note("read kernel: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return note("read kernel: %v", err)
	}
	p, err := FindPayload(f, st.Size())
	img.Compression = p.Compression
	if err != nil {
		return note("payload: %v", err)
	}
	payload := make([]byte, p.Length)
	if _, err := f.ReadAt(payload, p.Offset); err != nil {
		return note("read payload: %v", err)
	}
	elfData, err := Decompress(ctx, p.Compression, payload)
	if err != nil {
		return note("decompress %s payload: %v", p.Compression, err)
	}
	entry, err := CheckPVH(bytes.NewReader(elfData))
	switch {
	case errors.Is(err, ErrNoPVH):
		return note("%s", noPVHNote)
	case err != nil:
		return note("the payload: %v", err)
	}
	if err := writeCacheFile(elfPath, elfData); err != nil {
		return note("cache uncompressed kernel: %v", err)
	}
	img.ELF, img.Entry, img.From = elfPath, entry, "extracted"
	return img
}

func save(path string, img Image) error {
	img.From = ""
	b, _ := json.MarshalIndent(img, "", "  ")
	if err := writeCacheFile(path, append(b, '\n')); err != nil {
		return fmt.Errorf("cache boot verdict: %w", err)
	}
	return nil
}

// writeCacheFile writes a cache file whole (atomicfile), creating its
// directory.
func writeCacheFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}
