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
	"time"

	"github.com/vmtest/vmtest/internal/inputerr"
)

// stampLayout is the UTC time in the names of result directories and run
// IDs: sortable, and free of characters a shell or a file system minds.
const stampLayout = "20060102-150405"

// stamp is now in stampLayout.
func stamp() string { return time.Now().UTC().Format(stampLayout) }

// DefaultOut is the result directory of a kind of result ("compare",
// "mutate", ...) when the user names none: results/KIND-TIME.
func DefaultOut(kind string) string { return filepath.Join("results", kind+"-"+stamp()) }

// resultMarkers are the files at the top of the directories vmtest writes:
// a run, a repeated run, a comparison. A directory holding one of them is
// an earlier vmtest result, which --force may replace.
var resultMarkers = []string{ResultFile, RepeatFile, "comparison.json"}

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

// Stage creates the directory a result directory is assembled in before
// Commit renames it to out: beside out (a rename does not cross
// filesystems), named after it, hidden. Whatever fails on the way, out is
// complete or untouched.
func Stage(out string) (string, error) {
	parent := filepath.Dir(out)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", parent, err)
	}
	d, err := MkdirTemp(parent, "."+filepath.Base(out)+".partial-")
	if err != nil {
		return "", fmt.Errorf("create result directory: %w", err)
	}
	return d, nil
}

// Commit moves the staged directory to out, replacing an earlier result
// (CheckOut said it may): the earlier one is renamed aside first and
// removed only once the new one is in place.
func Commit(stage, out string) error {
	if _, err := os.Stat(out); err == nil {
		old := stage + ".old"
		if err := os.Rename(out, old); err != nil {
			return fmt.Errorf("replace %s: %w", out, err)
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(stage, out); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

// Staging is a result directory being assembled: Stage's directory, Dir,
// which Commit moves to out. Discard, deferred right after NewStaging,
// removes it on every path that did not commit it, so that a failure
// anywhere in between leaves neither out nor a stray stage.
type Staging struct {
	Dir       string
	out       string
	committed bool
}

// NewStaging stages a result directory for out (see Stage).
func NewStaging(out string) (*Staging, error) {
	d, err := Stage(out)
	if err != nil {
		return nil, err
	}
	return &Staging{Dir: d, out: out}, nil
}

// Commit moves the staged directory to out (see Commit).
func (s *Staging) Commit() error {
	if err := Commit(s.Dir, s.out); err != nil {
		return err
	}
	s.committed = true
	return nil
}

// Discard removes the staged directory unless it was committed.
func (s *Staging) Discard() {
	if !s.committed {
		os.RemoveAll(s.Dir)
	}
}

// Into returns a copy of p that writes its result directory to dir, inside
// a stage of the caller's (a repeated run's, a comparison's), and names
// final in result.json and the re-run line: where the directory will be
// once the caller commits the stage.
func (p *Prepared) Into(dir, final string) *Prepared {
	q := *p
	q.opts.Out, q.final = dir, final
	return &q
}

// Niced returns a copy of p whose VM starts at nice value n (Options.Nice).
func (p *Prepared) Niced(n int) *Prepared {
	q := *p
	q.opts.Nice = n
	return &q
}
