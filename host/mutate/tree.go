package mutate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/vmtest/vmtest/internal/proc"
)

// Tree is a kernel source tree and its O= object directory, built with
// make the way host/kbuild builds (same environment, so the same
// objects). It implements Builder.
type Tree struct {
	Src, Obj string
	Jobs     int
	// Log receives make's output.
	Log io.Writer
}

// Scratch copies a vmtest build tree (~/.cache/vmtest/build/tree-KEY,
// with src/ and obj/) into dir: the sources as hard links, the objects as
// real copies, so that mutating and building there cannot touch the
// cache. The first build in the copy recompiles everything once, since
// kbuild's command lines name the source directory by its absolute path;
// every mutant after that is an incremental build.
func Scratch(ctx context.Context, from, dir string, jobs int, log io.Writer) (*Tree, error) {
	src, obj := filepath.Join(from, "src"), filepath.Join(from, "obj")
	for _, p := range []string{filepath.Join(src, ".vmtest-ready"), filepath.Join(obj, ".config")} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s is not a finished vmtest build tree (no %s): build the kernel once with vmtest run --kernel build:... first", from, filepath.Base(p))
		}
	}
	t := &Tree{Src: filepath.Join(dir, "src"), Obj: filepath.Join(dir, "obj"), Jobs: jobs, Log: log}
	if _, err := os.Stat(filepath.Join(dir, ".vmtest-scratch-ready")); err == nil {
		return t, nil
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := t.run(ctx, "", "cp", "-al", src, t.Src); err != nil {
		if err := t.run(ctx, "", "cp", "-a", src, t.Src); err != nil {
			return nil, fmt.Errorf("copy %s: %w", src, err)
		}
	}
	if err := t.run(ctx, "", "cp", "-a", obj, t.Obj); err != nil {
		return nil, fmt.Errorf("copy %s: %w", obj, err)
	}
	return t, os.WriteFile(filepath.Join(dir, ".vmtest-scratch-ready"), nil, 0o644)
}

func (t *Tree) log() io.Writer {
	if t.Log == nil {
		return io.Discard
	}
	return t.Log
}

func (t *Tree) run(ctx context.Context, dir, name string, args ...string) error {
	cmd := proc.Command(ctx, name, args...)
	cmd.Dir = dir
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = t.log(), io.MultiWriter(t.log(), &errb)
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, firstErrorLine(errb.String()))
	}
	return nil
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

// Kernel runs `make O=obj -jN bzImage` and copies the image to dest.
func (t *Tree) Kernel(ctx context.Context, dest string) error {
	if err := t.make(ctx, "bzImage"); err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(t.Obj, "arch", "x86", "boot", "bzImage"))
	if err != nil {
		return fmt.Errorf("collect bzImage: %w", err)
	}
	return os.WriteFile(dest, data, 0o644)
}

// make runs one make target. A failure after make started is taken for
// the mutant's (a *CompileError), unless the context ended it.
func (t *Tree) make(ctx context.Context, target string) error {
	cmd := proc.Command(ctx, "make", "O="+t.Obj, fmt.Sprintf("-j%d", max(t.Jobs, 1)), target)
	cmd.Dir = t.Src
	// As host/kbuild: a fixed user and host keep the version string, and
	// so the image, free of this machine.
	cmd.Env = append(os.Environ(), "KBUILD_BUILD_USER=vmtest", "KBUILD_BUILD_HOST=vmtest")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(t.log(), &out), io.MultiWriter(t.log(), &out)
	err := cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ee interface{ ExitCode() int }
	if errors.As(err, &ee) {
		return &CompileError{Target: target, First: firstErrorLine(out.String()), Err: err}
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
