package qemu

import (
	"bytes"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestStartWithNice: the child runs at the nice value asked for (nice(1)
// with no arguments prints its own), the caller's thread is not reniced,
// and 0 leaves the child at the caller's.
func TestStartWithNice(t *testing.T) {
	if _, err := exec.LookPath("nice"); err != nil {
		t.Skip("no nice(1)")
	}
	own, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The kernel's getpriority returns 20 - nice.
	ownNice := 20 - own
	for _, tt := range []struct {
		n    int
		want int
	}{{7, 7}, {0, ownNice}} {
		var out bytes.Buffer
		cmd := exec.Command("nice")
		cmd.Stdout = &out
		exited := make(chan struct{})
		if err := startWithNice(cmd, tt.n, exited); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		close(exited)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(out.String()); got != strconv.Itoa(tt.want) {
			t.Errorf("startWithNice(%d): the child's nice value is %s, want %d", tt.n, got, tt.want)
		}
	}
	if now, _ := unix.Getpriority(unix.PRIO_PROCESS, 0); now != own {
		t.Errorf("the test's thread went from priority %d to %d", own, now)
	}
}
