// Package progress shows how a run is going. On a terminal it keeps one
// live line at the bottom (cases done, failures so far, elapsed time, the
// case last reported) and prints above it only what a person must see:
// warnings, notes and the cases that failed. On a pipe or a file (a CI
// log) every line passes through as it was written, one line per event,
// since a log cannot redraw and should stay greppable.
//
// It is an io.Writer for the lines host/run writes to Options.Progress;
// it recognises their case lines ("[3/154] pass        ID"), also behind
// a prefix such as `vmtest compare`'s "base:   ", which keeps a separate
// count per prefix.
package progress

import (
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// caseLine matches a case line of host/run: an optional prefix, "[n/m]",
// the outcome and the case ID.
var caseLine = regexp.MustCompile(`^(.*?)\[(\d+)/(\d+)\] +(\S+) +(\S+)\s*$`)

// Options configure a Writer.
type Options struct {
	// TTY selects the live form; New sets it from the file.
	TTY bool
	// Width is the terminal's width in columns, for the live line
	// (default 80).
	Width int
	// Now is the clock (default time.Now), for tests.
	Now func() time.Time
}

// Writer renders progress lines in the live or the plain form. It is safe
// for concurrent use: the two VMs of a comparison write through one.
type Writer struct {
	mu      sync.Mutex
	out     io.Writer
	tty     bool
	width   int
	now     func() time.Time
	start   time.Time
	partial []byte
	// sources are the case counts per prefix, in first-seen order.
	sources []*source
	failed  int
	last    string // the case last reported
	shown   bool   // a live line is on screen
	closed  bool
}

type source struct {
	prefix      string
	done, total int
}

// New returns a Writer on f, live when f is a terminal.
func New(f *os.File) *Writer {
	o := Options{TTY: IsTerminal(f.Fd())}
	if o.TTY {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			o.Width = int(ws.Col)
		}
	}
	return NewWriter(f, o)
}

// NewWriter returns a Writer on out with explicit options.
func NewWriter(out io.Writer, o Options) *Writer {
	if o.Width <= 0 {
		o.Width = 80
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Writer{out: out, tty: o.TTY, width: o.Width, now: o.Now, start: o.Now()}
}

// IsTerminal reports whether fd is a terminal (it answers the termios
// request only a terminal does).
func IsTerminal(fd uintptr) bool {
	_, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
	return err == nil
}

// Live reports whether the Writer draws the live line.
func (w *Writer) Live() bool { return w.tty }

// Write takes progress text; complete lines are handled at once, a
// partial line waits for its end.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.partial = append(w.partial, p...)
	for {
		i := strings.IndexByte(string(w.partial), '\n')
		if i < 0 {
			break
		}
		line := string(w.partial[:i])
		w.partial = w.partial[i+1:]
		if err := w.line(line); err != nil {
			return len(p), err
		}
	}
	return len(p), nil
}

// line handles one complete line.
func (w *Writer) line(l string) error {
	l = strings.TrimRight(l, "\r")
	isCase, failed := w.count(l)
	if !w.tty {
		_, err := fmt.Fprintln(w.out, l)
		return err
	}
	if isCase && !failed {
		return w.draw() // the live line says it
	}
	return w.above(l)
}

// count updates the tallies from a case line.
func (w *Writer) count(l string) (isCase, failed bool) {
	m := caseLine.FindStringSubmatch(l)
	if m == nil {
		return false, false
	}
	done, _ := strconv.Atoi(m[2])
	total, _ := strconv.Atoi(m[3])
	prefix := strings.TrimSpace(m[1])
	var s *source
	for _, x := range w.sources {
		if x.prefix == prefix {
			s = x
		}
	}
	if s == nil {
		s = &source{prefix: prefix}
		w.sources = append(w.sources, s)
	}
	s.done, s.total = done, total
	w.last = m[5]
	if o := m[4]; o == "fail" || o == "error" {
		w.failed++
		return true, true
	}
	return true, false
}

// above prints a line above the live line and redraws it.
func (w *Writer) above(l string) error {
	if _, err := fmt.Fprintf(w.out, "\r\x1b[K%s\n", l); err != nil {
		return err
	}
	w.shown = false
	return w.draw()
}

// draw (re)draws the live line, once there is something to count.
func (w *Writer) draw() error {
	if !w.tty || w.closed || len(w.sources) == 0 {
		return nil
	}
	_, err := fmt.Fprintf(w.out, "\r\x1b[K%s", w.status())
	w.shown = err == nil
	return err
}

// Status is the live line's text: "[37/154] 2 failed 1m02s set_tid/x"
// (one count per prefix of a comparison: "base 37/154 patched 20/154").
func (w *Writer) Status() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status()
}

func (w *Writer) status() string {
	var counts []string
	for _, s := range w.sources {
		c := fmt.Sprintf("%d/%d", s.done, s.total)
		if s.prefix != "" {
			c = strings.TrimSuffix(s.prefix, ":") + " " + c
		}
		counts = append(counts, c)
	}
	st := fmt.Sprintf("[%s] %d failed %s", strings.Join(counts, ", "), w.failed, elapsed(w.now().Sub(w.start)))
	// The case ID fills what the terminal has left (its last column
	// stays free, or the cursor wraps); its end is what tells cases apart.
	if room := w.width - 1 - len([]rune(st)) - 1; room > 3 && w.last != "" {
		last := []rune(w.last)
		if len(last) > room {
			last = append([]rune("…"), last[len(last)-room+1:]...)
		}
		st += " " + string(last)
	}
	if r := []rune(st); len(r) > w.width-1 {
		st = string(r[:w.width-1])
	}
	return st
}

// elapsed is "42s", "1m02s" or "1h02m03s".
func elapsed(d time.Duration) string {
	d = d.Truncate(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh%02dm%02ds", h, m, s)
	case m > 0:
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// Run redraws the live line every second, so that the elapsed time moves
// while a slow case runs, until ctx ends. It returns at once on a pipe.
func (w *Writer) Run(ctx context.Context) {
	if !w.tty {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.mu.Lock()
			w.draw()
			w.mu.Unlock()
		}
	}
}

// Close ends the live line with a newline, leaving the final counts on
// screen, and writes out a partial last line. Later writes pass through
// as plain lines.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.partial) > 0 {
		l := string(w.partial)
		w.partial = nil
		if err := w.line(l); err != nil {
			return err
		}
	}
	if w.tty && w.shown {
		if _, err := fmt.Fprintln(w.out); err != nil {
			return err
		}
	}
	w.closed, w.tty = true, false
	return nil
}

// Failed is the number of failed or errored cases reported so far, over
// every prefix.
func (w *Writer) Failed() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.failed
}
