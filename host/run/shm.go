package run

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/shmlog"
)

// shmPollEvery is how often the host copies what the guest appended to the
// shared-memory result region. It delays only the host's view, never the
// guest: the guest's writes are plain stores.
const shmPollEvery = 5 * time.Millisecond

// shmPump copies the shared-memory result channel into the results file,
// where the same tail as for the debug port and the UART reads it. The
// region is a file, so what the guest wrote is still there after QEMU
// exits or the kernel panics: stop copies the rest.
type shmPump struct {
	dir  string
	r    *shmlog.Reader
	out  *os.File
	quit chan struct{}
	done sync.WaitGroup
	mu   sync.Mutex // orders the last copy after the poller's
	err  error
}

// startShmPump creates the region in dir (before QEMU starts: QEMU maps
// the file the host made, with its header) and starts copying.
func startShmPump(dir string) (*shmPump, error) {
	path := filepath.Join(dir, qemu.ResultsShm)
	if err := shmlog.Create(path, qemu.ResultsShmSize); err != nil {
		return nil, err
	}
	r, err := shmlog.Open(path)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	// O_APPEND: QEMU appends to the same file (append=on) should the
	// agent fall back to the debug port or the UART.
	out, err := os.OpenFile(filepath.Join(dir, qemu.ResultsFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		r.Close()
		os.Remove(path)
		return nil, fmt.Errorf("open results file: %w", err)
	}
	p := &shmPump{dir: dir, r: r, out: out, quit: make(chan struct{})}
	p.done.Add(1)
	go func() {
		defer p.done.Done()
		t := time.NewTicker(shmPollEvery)
		defer t.Stop()
		for {
			select {
			case <-p.quit:
				return
			case <-t.C:
				p.copy()
			}
		}
	}()
	return p, nil
}

// copy appends what is new in the region to the results file. The first
// error stops the copying: a region that stops making sense (an
// impossible length) is reported once, not on every poll.
func (p *shmPump) copy() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	b, err := p.r.Next()
	if err == nil && len(b) > 0 {
		_, err = p.out.Write(b)
	}
	p.err = err
}

// flush copies what the guest has written so far, at once.
func (p *shmPump) flush() { p.copy() }

// stop copies the rest, stops, and removes the region: the result
// directory keeps the stream in the results file only. It returns the
// first error the copying met.
func (p *shmPump) stop() error {
	close(p.quit)
	p.done.Wait()
	p.copy()
	p.r.Close()
	if err := p.out.Close(); err != nil && p.err == nil {
		p.err = fmt.Errorf("write results file: %w", err)
	}
	os.Remove(filepath.Join(p.dir, qemu.ResultsShm))
	return p.err
}
