package run

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vmtest/vmtest/internal/contract"
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
	// path is the region file, in a temporary directory of its own: on a
	// file system where QEMU can map it shared (the result directory might
	// not be one), and never part of the results.
	path     string
	r        *shmlog.Reader
	out      *os.File
	quit     chan struct{}
	done     sync.WaitGroup
	mu       sync.Mutex // orders flush, the poller and stop's last copy
	err      error
	stopOnce sync.Once
}

// startShmPump creates the region (before QEMU starts: QEMU maps the file
// the host made, with its header) and starts copying what the guest
// writes there to the end of the results file.
func startShmPump(resultsFile string) (*shmPump, error) {
	dir, err := os.MkdirTemp("", "vmtest-results-")
	if err != nil {
		return nil, fmt.Errorf("shared-memory result region: %w", err)
	}
	path := filepath.Join(dir, "results.shm")
	fail := func(err error) (*shmPump, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := shmlog.Create(path, contract.ResultsShmSize); err != nil {
		return fail(err)
	}
	r, err := shmlog.Open(path)
	if err != nil {
		return fail(err)
	}
	// O_APPEND: QEMU appends to the same file (append=on) should the
	// agent fall back to the debug port or the UART.
	out, err := os.OpenFile(resultsFile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		r.Close()
		return fail(fmt.Errorf("open results file: %w", err))
	}
	p := &shmPump{path: path, r: r, out: out, quit: make(chan struct{})}
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
				p.flush()
			}
		}
	}()
	return p, nil
}

// flush appends what is new in the region to the results file, at once.
// The first error stops the copying: a region whose length no longer
// makes sense (the guest wrote over the header) or a results file that
// cannot be written is reported once, by stop, not on every poll.
func (p *shmPump) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil || p.r == nil {
		return
	}
	b, err := p.r.Next()
	if err == nil && len(b) > 0 {
		if _, err = p.out.Write(b); err != nil {
			err = fmt.Errorf("write results file: %w", err)
		}
	}
	p.err = err
}

// stop copies the rest, stops, and removes the region. It returns the
// first error the copying met; later calls do nothing.
func (p *shmPump) stop() error {
	p.stopOnce.Do(func() {
		close(p.quit)
		p.done.Wait()
		p.flush()
		p.mu.Lock()
		defer p.mu.Unlock()
		p.r.Close()
		p.r = nil
		if err := p.out.Close(); err != nil && p.err == nil {
			p.err = fmt.Errorf("write results file: %w", err)
		}
		os.RemoveAll(filepath.Dir(p.path))
	})
	return p.err
}
