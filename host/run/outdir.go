package run

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// resultMarkers are the files at the top of the directories vmtest writes:
// a run, a repeated run, a comparison. A directory holding one of them is
// an earlier vmtest result, which --force may replace.
var resultMarkers = []string{"result.json", RepeatFile, "comparison.json"}

// IsResult reports whether dir is a result directory vmtest wrote.
func IsResult(dir string) bool {
	for _, m := range resultMarkers {
		if fi, err := os.Stat(filepath.Join(dir, m)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// CheckOut refuses a result directory (--out) that writing would destroy
// something with: an existing file, a directory that is not a vmtest
// result, or, unless force, an earlier vmtest result. An empty directory
// holds nothing to lose and is taken. Its errors are *UsageError.
func CheckOut(out string, force bool) error {
	if out == "" {
		return nil
	}
	fi, err := os.Stat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil: // ENOTDIR: a file stands where a parent directory would be
		return &UsageError{fmt.Errorf("--out %s: %w", out, unwrapPath(err))}
	case !fi.IsDir():
		return &UsageError{fmt.Errorf("--out %s is an existing file, not a result directory; vmtest does not replace it", out)}
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		return &UsageError{fmt.Errorf("--out %s: %w", out, unwrapPath(err))}
	}
	switch {
	case len(ents) == 0:
		return nil
	case !IsResult(out):
		return &UsageError{fmt.Errorf("--out %s is a directory that is not a vmtest result; vmtest does not replace it", out)}
	case !force:
		return &UsageError{fmt.Errorf("--out %s holds an earlier vmtest result; pass --force to replace it", out)}
	}
	return nil
}

// CheckCache refuses a --cache that names an existing non-directory:
// every download, build and initramfs would fail on it, after the flags
// were taken. Its errors are *UsageError.
func CheckCache(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return &UsageError{fmt.Errorf("--cache %s: %w", dir, unwrapPath(err))}
	case !fi.IsDir():
		return &UsageError{fmt.Errorf("--cache %s is a file, not a directory", dir)}
	}
	return nil
}

// unwrapPath drops the path an *fs.PathError repeats: the message names
// --out already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readUmask returns the process's umask. /proc/self/status has it without
// changing it; setting and restoring it (the fallback for kernels before
// 4.7) would give any file another goroutine creates meanwhile the wrong
// mode.
func readUmask() os.FileMode {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return os.FileMode(m)
				}
			}
		}
	}
	m := syscall.Umask(0o22)
	syscall.Umask(m)
	return os.FileMode(m)
}

// MkdirTemp is os.MkdirTemp with the mode a plain mkdir would give: the
// user's umask applied to 0777. os.MkdirTemp makes 0700 directories, and a
// result directory assembled in one would stay unreadable to, say, a CI
// artifact uploader running as another user.
func MkdirTemp(dir, pattern string) (string, error) {
	d, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	if err := os.Chmod(d, 0o777&^readUmask()); err != nil {
		os.Remove(d)
		return "", fmt.Errorf("set the mode of %s: %w", d, err)
	}
	return d, nil
}
