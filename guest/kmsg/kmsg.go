//go:build linux

// Package kmsg watches the kernel log from the guest agent, so that a
// WARNING or BUG the kernel survives is charged to the case that was
// running: the host sees it on the console too, but cannot tell which of
// the cases running at the time caused it.
//
// A reader of /dev/kmsg gets one record per read, "PRIO,SEQ,USEC,FLAGS;
// TEXT" followed by continuation lines; PRIO is facility<<3|level, and
// the kernel forces the user facility on records written from user space,
// so a record of facility 0 is the kernel's own.
package kmsg

import (
	"bytes"
	"errors"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// Watcher reads new kernel log records without blocking.
type Watcher struct {
	mu  sync.Mutex
	fd  int
	buf []byte
}

// Open starts watching at the end of the log: boot messages are not news.
func Open() (*Watcher, error) {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if _, err := unix.Seek(fd, 0, unix.SEEK_END); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return &Watcher{fd: fd, buf: make([]byte, 8192)}, nil
}

// Reports returns the kernel's WARNING and BUG reports logged since the
// last call, one title each. When nothing is new it costs one read(2).
func (w *Watcher) Reports() []string {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	var titles []string
	for {
		n, err := unix.Read(w.fd, w.buf)
		if errors.Is(err, unix.EPIPE) {
			continue // records were overwritten before we read them
		}
		if err != nil || n <= 0 {
			return titles // EAGAIN: nothing more
		}
		if t := Title(w.buf[:n]); t != "" {
			titles = append(titles, t)
		}
	}
}

// Close stops watching.
func (w *Watcher) Close() error {
	if w == nil {
		return nil
	}
	return unix.Close(w.fd)
}

// Title returns the report title of one /dev/kmsg record, or "" when the
// record is not a kernel WARNING or BUG (or is not the kernel's).
func Title(record []byte) string {
	head, text, ok := bytes.Cut(record, []byte(";"))
	if !ok {
		return ""
	}
	prio, _, _ := bytes.Cut(head, []byte(","))
	p := 0
	for _, c := range prio {
		if c < '0' || c > '9' {
			return ""
		}
		p = p*10 + int(c-'0')
	}
	if p>>3 != 0 || p&7 > 4 {
		return "" // not the kernel's, or below warning level
	}
	line, _, _ := bytes.Cut(text, []byte("\n"))
	s := strings.TrimSpace(string(line))
	switch {
	case strings.HasPrefix(s, "WARNING: CPU:"):
		// WARNING: CPU: 1 PID: 87 at kernel/pid.c:229 alloc_pid+0x3a/0x3b0
		if _, at, ok := strings.Cut(s, " at "); ok {
			f := strings.Fields(at)
			if len(f) >= 2 {
				fn, _, _ := strings.Cut(f[1], "+")
				return "WARNING: at " + f[0] + " " + fn
			}
		}
		return s
	case strings.HasPrefix(s, "WARNING: "), strings.HasPrefix(s, "BUG: "), strings.HasPrefix(s, "kernel BUG at "),
		strings.HasPrefix(s, "UBSAN: "), strings.HasPrefix(s, "list_add corruption"), strings.HasPrefix(s, "list_del corruption"):
		return s
	}
	return ""
}
