package progress

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// clock is a fake time source that tests move by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// A run's progress as host/run writes it.
var runLines = []string{
	"booting 6.1.0-57-amd64 under tcg (3 cases)",
	"guest agent up after 14.2s",
	"[1/3] pass        clone3/probe/clone3",
	"[2/3] fail        set_tid/userns/owner-ancestor-level-eperm",
	"warning: something the user must see",
	"[3/3] pass        set_tid/probe/set_tid",
}

func TestPlainForm(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b, Options{TTY: false})
	for _, l := range runLines {
		fmt.Fprintln(w, l)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := strings.Join(runLines, "\n") + "\n"
	if b.String() != want {
		t.Errorf("plain form changed the lines:\n%q\nwant\n%q", b.String(), want)
	}
	if strings.Contains(b.String(), "\r") || strings.Contains(b.String(), "\x1b") {
		t.Error("plain form wrote terminal control sequences")
	}
	if w.Failed() != 1 {
		t.Errorf("Failed() = %d, want 1", w.Failed())
	}
}

// screen replays what the live form wrote as a terminal would show it:
// \r returns to the line's start, ESC[K clears the rest.
func screen(out string) []string {
	var lines []string
	cur := ""
	for _, r := range strings.ReplaceAll(out, "\x1b[K", "") {
		switch r {
		case '\r':
			cur = ""
		case '\n':
			lines = append(lines, cur)
			cur = ""
		default:
			cur += string(r)
		}
	}
	return append(lines, cur)
}

func TestLiveForm(t *testing.T) {
	c := &clock{t: time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)}
	var b bytes.Buffer
	w := NewWriter(&b, Options{TTY: true, Width: 60, Now: c.now})
	steps := []struct {
		line    string
		advance time.Duration
		// bottom is what the live line must say afterwards.
		bottom string
	}{
		{runLines[0], 0, ""},
		{runLines[1], 14 * time.Second, ""},
		{runLines[2], time.Second, "[1/3] 0 failed 15s clone3/probe/clone3"},
		{runLines[3], 50 * time.Second, "[2/3] 1 failed 1m05s …tid/userns/owner-ancestor-level-eperm"},
		{runLines[4], 0, "[2/3] 1 failed 1m05s …tid/userns/owner-ancestor-level-eperm"},
		{runLines[5], time.Second, "[3/3] 1 failed 1m06s set_tid/probe/set_tid"},
	}
	for _, s := range steps {
		c.t = c.t.Add(s.advance)
		fmt.Fprintln(w, s.line)
		sc := screen(b.String())
		if got := sc[len(sc)-1]; got != s.bottom {
			t.Errorf("after %q the live line is %q, want %q", s.line, got, s.bottom)
		}
		if n := len([]rune(sc[len(sc)-1])); n > 59 {
			t.Errorf("live line of %d columns overflows a 60-column terminal", n)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	sc := screen(b.String())
	// Above the live line: the messages and the failure, not the passes.
	want := []string{runLines[0], runLines[1], runLines[3], runLines[4], "[3/3] 1 failed 1m06s set_tid/probe/set_tid", ""}
	if strings.Join(sc, "\n") != strings.Join(want, "\n") {
		t.Errorf("screen:\n%s\nwant:\n%s", strings.Join(sc, "\n"), strings.Join(want, "\n"))
	}
}

// A comparison writes both VMs' lines behind prefixes: each keeps its own
// count, the failures add up.
func TestLiveFormPrefixes(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	var b bytes.Buffer
	w := NewWriter(&b, Options{TTY: true, Width: 120, Now: c.now})
	for _, l := range []string{
		"base:   [1/2] pass        a",
		"patched:[1/2] error       a",
		"base:   [2/2] fail        b",
		"[confirm-1] patched:[1/1] pass        b",
	} {
		fmt.Fprintln(w, l)
	}
	got := w.Status()
	want := "[base 2/2, patched 1/2, [confirm-1] patched 1/1] 2 failed 0s b"
	if got != want {
		t.Errorf("Status() = %q, want %q", got, want)
	}
}

func TestPartialLines(t *testing.T) {
	var b bytes.Buffer
	w := NewWriter(&b, Options{})
	w.Write([]byte("[1/2] pa"))
	if b.Len() != 0 {
		t.Errorf("a partial line was written: %q", b.String())
	}
	w.Write([]byte("ss x\n[2/2] fail y"))
	w.Close()
	if got := b.String(); got != "[1/2] pass x\n[2/2] fail y\n" {
		t.Errorf("got %q", got)
	}
	if w.Failed() != 1 {
		t.Errorf("the line completed by Close was not counted")
	}
}

func TestIsTerminal(t *testing.T) {
	r, wp, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer wp.Close()
	if IsTerminal(wp.Fd()) {
		t.Error("a pipe was taken for a terminal")
	}
	if New(wp).Live() {
		t.Error("New on a pipe chose the live form")
	}
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal to test the live side: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skipf("pty number: %v", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("open pty: %v", err)
	}
	defer pts.Close()
	if !IsTerminal(pts.Fd()) || !New(pts).Live() {
		t.Error("a pseudo-terminal was not taken for a terminal")
	}
}

func TestElapsed(t *testing.T) {
	for d, want := range map[time.Duration]string{
		42 * time.Second: "42s", 62*time.Second + 900*time.Millisecond: "1m02s", time.Hour + 2*time.Minute + 3*time.Second: "1h02m03s",
	} {
		if got := elapsed(d); got != want {
			t.Errorf("elapsed(%s) = %s, want %s", d, got, want)
		}
	}
}
