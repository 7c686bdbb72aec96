//go:build linux

package matrix

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

var idShape = regexp.MustCompile(`^(clone3|set_tid)/[a-z0-9_]+/[a-z0-9_.-]+$`)

// TestCatalogue checks what every case must have to be reported and
// selected: a stable, well-formed, unique ID naming its group, a rule, an
// expectation and a body.
func TestCatalogue(t *testing.T) {
	all := All()
	if len(all) < 60 {
		t.Errorf("%d cases; the matrix promises at least 60", len(all))
	}
	seen := map[string]bool{}
	groups := map[string]int{}
	for _, c := range all {
		if seen[c.ID] {
			t.Errorf("duplicate ID %s", c.ID)
		}
		seen[c.ID] = true
		if !idShape.MatchString(c.ID) {
			t.Errorf("%s: ID not shaped like prefix/group/name", c.ID)
		}
		if strings.Split(c.ID, "/")[1] != c.Group {
			t.Errorf("%s: in group %q, but its ID names another", c.ID, c.Group)
		}
		if c.Rule == "" || c.Expect == "" || c.Run == nil {
			t.Errorf("%s: needs a rule, an expectation and a body", c.ID)
		}
		if strings.HasPrefix(c.ID, "set_tid/") && c.Needs&SetTID == 0 {
			t.Errorf("%s: a set_tid case that does not need SetTID would not be unsupported on a kernel without it", c.ID)
		}
		if c.Needs&Clone3 == 0 && c.Needs&SetTID == 0 {
			t.Errorf("%s: needs neither clone3 nor set_tid", c.ID)
		}
		if len(c.Setup.Levels) > 0 && c.Needs&PIDNS == 0 {
			t.Errorf("%s: nests PID namespaces without needing PIDNS", c.ID)
		}
		for _, l := range c.Setup.Levels {
			if l.UserNS && c.Needs&UserNS == 0 {
				t.Errorf("%s: makes a user namespace without needing UserNS", c.ID)
			}
		}
		groups[c.Group]++
	}
	for _, g := range []string{"plain", "args", "pid", "nested", "userns", "hygiene", "concurrency", "threads"} {
		if groups[g] < 3 {
			t.Errorf("group %s has %d cases; each needs several", g, groups[g])
		}
	}
}

func TestSelect(t *testing.T) {
	count := func(prefix string) (n int) {
		for _, c := range All() {
			if strings.HasPrefix(c.ID, prefix) {
				n++
			}
		}
		return n
	}
	for _, tc := range []struct {
		patterns []string
		want     int // -1: all
		err      string
	}{
		{nil, -1, ""},
		{[]string{"set_tid/userns/*"}, count("set_tid/userns/"), ""},
		{[]string{"clone3/plain/ver0"}, 1, ""},
		{[]string{"clone3/plain/ver0", "clone3/plain/ver0"}, 1, ""},
		{[]string{"clone3/*/*"}, count("clone3/"), ""},
		{[]string{"nope/*"}, 0, "matches no case"},
		{[]string{"["}, 0, "["},
	} {
		got, err := Select(tc.patterns)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Select(%q): error %v, want one containing %q", tc.patterns, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Select(%q): %v", tc.patterns, err)
			continue
		}
		want := tc.want
		if want < 0 {
			want = len(All())
		}
		if len(got) != want {
			t.Errorf("Select(%q) = %d cases, want %d", tc.patterns, len(got), want)
		}
	}
	if c, ok := Lookup("set_tid/nested/max-depth-32-levels"); !ok || c.Setup.Depth() != 31 && c.Setup.Depth() != 32 {
		t.Errorf("Lookup of the 32-level case: %v, depth %d", ok, c.Setup.Depth())
	}
}

func TestMissing(t *testing.T) {
	all := Clone3 | SetTID | PIDNS | UserNS | CheckpointRestoreCap | ClearSighand
	for _, tc := range []struct {
		need, have  Feature
		unsupported bool
		reason      string
	}{
		{SetTID, all, false, ""},
		{Clone3, 0, true, "ENOSYS"},
		{SetTID | PIDNS, Clone3 | PIDNS, true, "E2BIG"},
		{SetTID | UserNS, Clone3 | SetTID, false, "user"},
		{SetTID | CheckpointRestoreCap, Clone3 | SetTID, false, "checkpoint"},
	} {
		reason, unsupported := Missing(tc.need, tc.have, nil)
		if unsupported != tc.unsupported || !strings.Contains(strings.ToLower(reason), strings.ToLower(tc.reason)) || (tc.reason == "") != (reason == "") {
			t.Errorf("Missing(%v, %v) = %q, %v; want %q, %v", tc.need, tc.have, reason, unsupported, tc.reason, tc.unsupported)
		}
	}
}

// TestSiginfoPID: si_pid is read at the offset the kernel writes it to.
func TestSiginfoPID(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Start(); err != nil {
		t.Skipf("true: %v", err)
	}
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, cmd.Process.Pid, &info, unix.WEXITED, nil); err != nil {
		t.Fatal(err)
	}
	if got := siginfoPID(&info); got != int32(cmd.Process.Pid) {
		t.Errorf("siginfoPID = %d, want %d", got, cmd.Process.Pid)
	}
}

// TestExitSignalWant: a SIGCHLD child is seen by a plain wait only, any
// other exit signal (0 included) by a __WCLONE wait only.
func TestExitSignalWant(t *testing.T) {
	for _, tc := range []struct {
		sig  unix.Signal
		want string
	}{
		{unix.SIGCHLD, "exit_signal 17; plain wait sees it: yes; __WCLONE wait: no"},
		{0, "exit_signal 0; plain wait sees it: no; __WCLONE wait: yes"},
		{unix.SIGUSR1, "exit_signal 10; plain wait sees it: no; __WCLONE wait: yes"},
	} {
		if got := exitSignalWant(tc.sig); got != tc.want {
			t.Errorf("exitSignalWant(%d) = %q, want %q", tc.sig, got, tc.want)
		}
	}
}
