//go:build linux && !amd64

package debugcon

import (
	"fmt"
	"runtime"
)

// Open fails: only x86 has I/O ports, so the agent writes its results
// through shared memory or the UART instead.
func Open() (*Writer, error) {
	return nil, fmt.Errorf("no I/O port %#x on %s: the debug port exists only on x86", Port, runtime.GOARCH)
}

// Write fails: there is no port to write to.
func (*Writer) Write(p []byte) (int, error) {
	return 0, fmt.Errorf("no debug port on %s", runtime.GOARCH)
}
