package mutate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vmtest/vmtest/internal/digest"
	"github.com/vmtest/vmtest/internal/proc"
)

// Tree is a kernel source tree and its O= object directory, built with
// make the way host/kbuild builds (same environment, so the same
// objects). It implements Builder. kbuild.Scratch makes one: a private
// copy of a built spec whose objects are current, so that every build in
// it is incremental (one object, then the link).
type Tree struct {
	Src, Obj string
	Jobs     int
	// Log receives make's output.
	Log io.Writer
}

func (t *Tree) log() io.Writer {
	if t.Log == nil {
		return io.Discard
	}
	return t.Log
}

// ReadFile reads a source file.
func (t *Tree) ReadFile(rel string) ([]byte, error) { return os.ReadFile(filepath.Join(t.Src, rel)) }

// WriteFile replaces a source file through a new file and a rename,
// which breaks the hard link to the tree it was copied from.
func (t *Tree) WriteFile(rel string, data []byte) error {
	p := filepath.Join(t.Src, rel)
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	tmp := p + ".vmtest-mutate"
	if err := os.WriteFile(tmp, data, fi.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// Object runs `make O=obj -jN dir/file.o` and returns the object's path.
func (t *Tree) Object(ctx context.Context, srcRel string) (string, error) {
	target := strings.TrimSuffix(srcRel, ".c") + ".o"
	if err := t.make(ctx, target); err != nil {
		return "", err
	}
	return filepath.Join(t.Obj, target), nil
}

// Kernel runs `make O=obj -jN bzImage` and copies the bzImage and the
// vmlinux it was made from into dir (returning the bzImage's path), with a manifest.json naming both as
// host/kbuild's cache entries do: host/vmlinux then boots the ELF
// through PVH as it is, instead of decompressing the bzImage and
// caching one more uncompressed kernel per mutant. (host/run takes only
// a bzImage, so the bzImage is still made; for the minimal config the
// compression is a few seconds of the build.)
func (t *Tree) Kernel(ctx context.Context, dir string) (string, error) {
	if err := t.make(ctx, "bzImage"); err != nil {
		return "", err
	}
	dir, err := filepath.Abs(dir) // the manifest's paths are read from anywhere
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	img, elf := filepath.Join(dir, "bzImage"), filepath.Join(dir, "vmlinux")
	for _, c := range [][2]string{{filepath.Join(t.Obj, "arch", "x86", "boot", "bzImage"), img}, {filepath.Join(t.Obj, "vmlinux"), elf}} {
		if err := copyFile(c[0], c[1]); err != nil {
			return "", fmt.Errorf("collect the kernel: %w", err)
		}
	}
	sum, err := digest.File(img)
	if err != nil {
		return "", err
	}
	m, _ := json.Marshal(map[string]string{"bzimage": img, "bzimage_sha256": sum, "vmlinux": elf})
	return img, os.WriteFile(filepath.Join(dir, "manifest.json"), m, 0o644)
}

// copyFile copies a file whole.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// make runs one make target. A failure after make started is taken for
// the mutant's (a *CompileError), unless the context ended it. Make's
// output goes to a file, not a pipe: with a pipe, exec.Cmd copies it in
// a goroutine and, on a loaded machine, a copy still running a second
// after make exited (proc.Command's WaitDelay) failed a good build.
func (t *Tree) make(ctx context.Context, target string) error {
	out, err := os.CreateTemp("", "vmtest-mutate-make-*.log")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := proc.Command(ctx, "make", "O="+t.Obj, fmt.Sprintf("-j%d", max(t.Jobs, 1)), target)
	cmd.Dir = t.Src
	// As host/kbuild: a fixed user and host keep the version string, and
	// so the image, free of this machine.
	cmd.Env = append(os.Environ(), "KBUILD_BUILD_USER=vmtest", "KBUILD_BUILD_HOST=vmtest")
	cmd.Stdout, cmd.Stderr = out, out
	err = cmd.Run()
	text, rerr := os.ReadFile(out.Name())
	if rerr != nil {
		return fmt.Errorf("read make's output: %w", rerr)
	}
	t.log().Write(text)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) {
		return &CompileError{Target: target, First: firstErrorLine(string(text)), Err: err}
	}
	return fmt.Errorf("make %s: %w", target, err)
}

var errorLine = regexp.MustCompile(`(error:|Error [0-9]+|\*\*\* |undefined reference|fatal:)`)

// firstErrorLine is the first line that looks like an error: with -j the
// last lines are make's cascade, not the cause.
func firstErrorLine(s string) string {
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if errorLine.MatchString(sc.Text()) {
			return strings.TrimSpace(sc.Text())
		}
	}
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
