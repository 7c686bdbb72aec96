package testutils

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// RunReapingChildren runs a package's tests as a child subreaper and, when
// they are done, kills whatever processes they left behind, then exits
// with the tests' status.
//
// The guest packages' tests start clone3 proxies: processes that share the
// test binary's memory (CLONE_VM) and serve requests from a futex forever.
// A proxy whose parent proxy is killed while it is being created (its
// request timed out under load) is an orphan nobody knows of; as the init
// of its own PID namespace it is not killed with its parent. It keeps the
// test binary's stdout open, and go test then waits a minute for output
// that never comes and fails the package. As a subreaper the test binary
// inherits such orphans and can end them; the count goes to stderr so that
// a leak is seen, not hidden. In the guest the agent is PID 1, which
// inherits orphans anyway, and the VM's power-off ends them.
func RunReapingChildren(m *testing.M) {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "testutils: become a child subreaper: %v\n", err)
	}
	code := m.Run()
	if n := killChildren(); n > 0 {
		fmt.Fprintf(os.Stderr, "testutils: killed %d process(es) the tests left running\n", n)
	}
	os.Exit(code)
}

// killChildren sends SIGKILL to every child of this process and reaps
// them; it returns how many there were.
func killChildren() int {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	n := 0
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			pid, err := strconv.Atoi(s)
			if err != nil {
				continue
			}
			if unix.Kill(pid, unix.SIGKILL) == nil {
				n++
				var ws unix.WaitStatus
				unix.Wait4(pid, &ws, unix.WALL, nil)
			}
		}
	}
	return n
}
