//go:build linux

package matrix

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
	"github.com/vmtest/vmtest/internal/result"
)

// CLONE_INTO_CGROUP where the kernel has cgroup2: the child starts in the
// cgroup whose directory clone_args.cgroup names, and a descriptor that
// names none fails the call after alloc_pid, which must free the PID.
// (Its argument checks, which every kernel makes, are clone3/plain cases.)
func cgroupPlainCases() []Case {
	return []Case{
		{
			ID: "clone3/plain/into-cgroup", Rule: "CLONE_INTO_CGROUP with a cgroup2 directory starts the child in that cgroup",
			Expect: "child's /proc/PID/cgroup: 0::/G", Needs: Clone3 | Cgroup2,
			Run: func(t *T) {
				fd, name := t.cgroup()
				t.Check(result.Answer{Note: "0::/" + name}, t.Clone(Call{Flags: unix.CLONE_INTO_CGROUP, Size: clone3.SizeVer2, Cgroup: uint64(fd), CgroupNote: true}))
			},
		},
		{
			ID: "clone3/plain/into-cgroup-not-a-cgroup", Rule: "CLONE_INTO_CGROUP with a directory outside cgroupfs → EBADF",
			Expect: "EBADF", Needs: Clone3 | Cgroup2,
			Run: func(t *T) {
				fd := t.openDir("/tmp")
				t.Check(Errno(unix.EBADF), t.Clone(Call{Flags: unix.CLONE_INTO_CGROUP, Size: clone3.SizeVer2, Cgroup: uint64(fd)}))
			},
		},
	}
}

func cgroupHygieneCases() []Case {
	return []Case{
		{
			ID: "set_tid/hygiene/freed-after-cgroup-refusal", Rule: "a clone3 refused by CLONE_INTO_CGROUP (not a cgroup: EBADF, after alloc_pid) frees the chosen PID",
			Expect: "EBADF; then pid F in cgroup G", Needs: SetTID | Cgroup2,
			Run: func(t *T) {
				f := t.Free(1)
				bad := t.openDir("/tmp")
				t.Require("[F] into /tmp", Errno(unix.EBADF), t.Clone(Call{SetTID: f, Flags: unix.CLONE_INTO_CGROUP, Size: clone3.SizeVer2, Cgroup: uint64(bad)}))
				fd, name := t.cgroup()
				want := t.Want(f, false)
				want.Note = "0::/" + name
				t.Check(want, t.Clone(Call{SetTID: f, Flags: unix.CLONE_INTO_CGROUP, Size: clone3.SizeVer2, Cgroup: uint64(fd), CgroupNote: true}))
			},
		},
	}
}

// cgroupRoot is where the matrix mounts cgroup2, once per process.
var cgroupRoot = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "vmtest-cgroup2-")
	if err != nil {
		return "", err
	}
	if err := unix.Mount("cgroup2", dir, "cgroup2", 0, ""); err != nil {
		return "", fmt.Errorf("mount cgroup2 on %s: %w", dir, err)
	}
	return dir, nil
})

// cgroup makes a cgroup of the case's own below the root and returns a
// descriptor of its directory and its path relative to the root; both
// go when the body ends (the child is reaped by then).
func (t *T) cgroup() (int, string) {
	root, err := cgroupRoot()
	if err != nil {
		t.Fatalf("%v", err)
	}
	name := fmt.Sprintf("vmtest-%d-%d", os.Getpid(), len(t.cleanup))
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("make cgroup: %v", err)
	}
	fd := t.openDir(dir)
	t.cleanup = append(t.cleanup, func() { os.Remove(dir) })
	return fd, name
}

// openDir opens a directory for its descriptor, closed when the body ends.
func (t *T) openDir(path string) int {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.cleanup = append(t.cleanup, func() { unix.Close(fd) })
	return fd
}

// cgroupNote is the unified-hierarchy line of /proc/PID/cgroup of pid, a
// child of the initial namespace not yet reaped.
func (t *T) cgroupNote(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("%s/%d/cgroup", clone3.ProcRoot(), pid))
	if err != nil {
		t.Fatalf("read cgroup of child %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "0::") {
			return line
		}
	}
	return strings.TrimSpace(string(b))
}
