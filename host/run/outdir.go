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

	"github.com/vmtest/vmtest/internal/inputerr"
)

// resultMarkers are the files at the top of the directories vmtest writes:
// a run, a repeated run, a comparison. A directory holding one of them is
// an earlier vmtest result, which --force may replace.
var resultMarkers = []string{"result.json", RepeatFile, "comparison.json"}

// ErrEarlierResult is CheckOut's problem with a directory that holds an
// earlier vmtest result and may be replaced only when forced.
var ErrEarlierResult = errors.New("holds an earlier vmtest result, replaced only when forced")

// isResult reports whether dir is a result directory vmtest wrote.
func isResult(dir string) bool {
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
// holds nothing to lose and is taken. Its errors match
// inputerr.ErrBadInput; an earlier result's also ErrEarlierResult.
func CheckOut(out string, force bool) error {
	if out == "" {
		return nil
	}
	fi, err := os.Stat(out)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil: // ENOTDIR: a file stands where a parent directory would be
		return inputerr.New("out", out, unwrapPath(err))
	case !fi.IsDir():
		return inputerr.Errorf("out", out, "is an existing file, not a result directory; vmtest does not replace it")
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		return inputerr.New("out", out, unwrapPath(err))
	}
	switch {
	case len(ents) == 0:
		return nil
	case !isResult(out):
		return inputerr.Errorf("out", out, "is a directory that is not a vmtest result; vmtest does not replace it")
	case !force:
		return inputerr.New("out", out, ErrEarlierResult)
	}
	return nil
}

// CheckCache refuses a --cache that names an existing non-directory:
// every download, build and initramfs would fail on it, after the flags
// were taken. Its errors match inputerr.ErrBadInput.
func CheckCache(dir string) error {
	if dir == "" {
		return nil
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return inputerr.New("cache", dir, unwrapPath(err))
	case !fi.IsDir():
		return inputerr.Errorf("cache", dir, "is a file, not a directory")
	}
	return nil
}

// unwrapPath drops the path an *fs.PathError repeats: the message names
// it already.
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
