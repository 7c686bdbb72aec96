// Package initramfs writes the guest's initramfs: a newc cpio archive, made
// in-process with u-root's cpio package, holding the static guest agent as
// /init and the few device nodes the kernel and agent need before devtmpfs
// is mounted. No Go toolchain is needed at run time: the agent is the
// prebuilt vmtest-agent binary installed beside vmtest (FindAgent).
//
// Archives are cached by the agent binary's hash, so repeated runs reuse
// the same file.
package initramfs

import (
	"bufio"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/vmtest/vmtest/host/fileid"
	"github.com/vmtest/vmtest/internal/atomicfile"
	"github.com/vmtest/vmtest/internal/digest"

	"github.com/vmtest/vmtest/internal/contract"
)

// formatVersion changes whenever the archive layout changes, so old cache
// entries are not reused.
const formatVersion = "1"

// Records returns the archive's records for an agent binary of the given
// contents reader. Device nodes are included because the kernel opens
// /dev/console for PID 1's stdio before any file system is mounted.
func Records(agent io.ReaderAt, agentSize int64, extra ...cpio.Record) []cpio.Record {
	dir := func(name string, perm uint64) cpio.Record { return cpio.Directory(name, perm) }
	recs := []cpio.Record{
		dir("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.CharDev("dev/null", 0o666, 1, 3),
		cpio.CharDev("dev/port", 0o640, 1, 4),
		cpio.CharDev("dev/ttyS0", 0o660, 4, 64),
		cpio.CharDev("dev/ttyS1", 0o660, 4, 65),
		dir("proc", 0o555),
		dir("rootproc", 0o555),
		dir("sys", 0o555),
		dir("tmp", 0o1777),
		dir("etc", 0o755),
		cpio.StaticFile("etc/passwd", "root:x:0:0:root:/:/init\nnobody:x:65534:65534:nobody:/:/init\n", 0o644),
		cpio.StaticFile("etc/group", "root:x:0:\nnogroup:x:65534:\n", 0o644),
		{
			ReaderAt: agent,
			Info: cpio.Info{
				Name:     "init",
				Mode:     cpio.S_IFREG | 0o755,
				FileSize: uint64(agentSize),
			},
		},
	}
	if len(extra) > 0 {
		recs = append(recs, dir(execDir, 0o755))
		recs = append(recs, extra...)
	}
	for i := range recs {
		recs[i] = cpio.MakeReproducible(recs[i])
	}
	return recs
}

// execDir is where extra executables land in the archive (no leading
// slash: cpio names are relative).
var execDir = strings.TrimPrefix(contract.ExecDir, "/")

// File is an extra host file to carry into the guest's contract.ExecDir, e.g. an
// upstream kselftest binary to run instead of the matrix.
type File struct {
	Path string // on the host
}

func (f File) record() (cpio.Record, io.Closer, error) {
	h, err := os.Open(f.Path)
	if err != nil {
		return cpio.Record{}, nil, fmt.Errorf("open guest file: %w", err)
	}
	st, err := h.Stat()
	if err != nil {
		h.Close()
		return cpio.Record{}, nil, err
	}
	return cpio.Record{ReaderAt: h, Info: cpio.Info{
		Name: execDir + "/" + filepath.Base(f.Path), Mode: cpio.S_IFREG | 0o755, FileSize: uint64(st.Size()),
	}}, h, nil
}

// Write writes the archive for the agent at agentPath to w.
func Write(w io.Writer, agentPath string, extra ...File) error {
	var recs []cpio.Record
	for _, e := range extra {
		r, c, err := e.record()
		if err != nil {
			return err
		}
		defer c.Close()
		recs = append(recs, r)
	}
	f, err := os.Open(agentPath)
	if err != nil {
		return fmt.Errorf("open guest agent: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat guest agent: %w", err)
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	cw := cpio.Newc.Writer(bw)
	if err := cpio.WriteRecordsAndDirs(cw, Records(f, st.Size(), recs...)); err != nil {
		return fmt.Errorf("write initramfs: %w", err)
	}
	if err := cpio.WriteTrailer(cw); err != nil {
		return fmt.Errorf("write initramfs trailer: %w", err)
	}
	return bw.Flush()
}

// CheckStatic verifies that the agent binary can run as PID 1 of an
// initramfs: a 64-bit x86 ELF without a dynamic loader.
func CheckStatic(path string) error {
	return checkStatic(path, "guest agent", "cannot be the guest's /init; build it with CGO_ENABLED=0 (make build does)")
}

// CheckProgram verifies an extra program for the guest (run --exec) the
// same way: the initramfs has no dynamic loader and no libc.
func CheckProgram(path string) error {
	return checkStatic(path, "guest program", "cannot run in the guest, which has no libc; link it with -static")
}

func checkStatic(path, role, dynamicHint string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("%s %s: %w", role, path, err)
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%s %s is built for %v, the guest is x86-64", role, path, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s %s is dynamically linked and %s", role, path, dynamicHint)
		}
	}
	return nil
}

// Cached returns the path of the archive for agentPath in cacheDir,
// building it on first use. Concurrent callers are safe: the archive is
// written to a temporary file and renamed into place.
func Cached(agentPath, cacheDir string, extra ...File) (string, error) {
	// The checks and hashes are remembered by each file's identity:
	// reading the agent twice (its ELF check, its hash) cost a warm run
	// 37 ms before its VM started, when it was the 10 MB CLI itself.
	ids := fileid.At(cacheDir)
	sum, _, err := fileid.Remember(ids, "initramfs.agent/v1", agentPath, func() (string, error) {
		if err := CheckStatic(agentPath); err != nil {
			return "", err
		}
		return digest.File(agentPath)
	})
	if err != nil {
		return "", err
	}
	for _, e := range extra {
		h, _, err := fileid.Remember(ids, "initramfs.program/v1", e.Path, func() (string, error) {
			if err := CheckProgram(e.Path); err != nil {
				return "", err
			}
			return digest.File(e.Path)
		})
		if err != nil {
			return "", err
		}
		sum = digest.Bytes([]byte(sum + " " + filepath.Base(e.Path) + " " + h))
	}
	dst := filepath.Join(cacheDir, "initramfs-"+formatVersion+"-"+sum[:16]+".cpio")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", fmt.Errorf("create cache dir: %w", err)
	}
	err = atomicfile.Write(dst, 0o644, func(w io.Writer) error { return Write(w, agentPath, extra...) })
	if err != nil {
		return "", fmt.Errorf("build the initramfs: %w", err)
	}
	return dst, nil
}
