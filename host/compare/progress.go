package compare

import (
	"bytes"
	"fmt"
	"io"
	"sync"
)

// prefixWriter prefixes each line, so that two VMs' progress can share
// one writer. Each side has its own; they share the mutex and the writer.
// The prefix changes between rounds, while no VM runs.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		p.mu.Lock()
		fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i])
		p.mu.Unlock()
		p.buf = p.buf[i+1:]
	}
}
