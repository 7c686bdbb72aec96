package qemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"

	"github.com/vmtest/vmtest/internal/proc"
)

// VM is a running QEMU process with its QMP connection.
type VM struct {
	Dir  string
	Args []string

	cmd *exec.Cmd
	// stderr is written by exec's copying goroutine while QEMU runs and
	// read by Stderr and error paths at any time: it takes a lock.
	stderr lockedBuffer
	mon    *qmp.SocketMonitor
	dirFD  *os.File
	exited chan struct{}
	err    error

	events chan qmp.Event
	pumped sync.WaitGroup

	qmpWait time.Duration
}

// lockedBuffer is a bytes.Buffer safe for one writer and many readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Start launches QEMU in dir (which must exist) and connects to its QMP
// socket. The VM is ready when Start returns: QMP answered query-status.
func Start(ctx context.Context, c Config, dir string) (*VM, error) {
	args := c.Args()
	vm := &VM{Dir: dir, Args: args, exited: make(chan struct{}), qmpWait: c.QMPWait}
	vm.cmd = exec.Command(args[0], args[1:]...)
	vm.cmd.Dir = dir
	vm.cmd.Stdout = &vm.stderr
	vm.cmd.Stderr = &vm.stderr
	// Own process group: a Ctrl-C on vmtest must not reach QEMU before
	// vmtest has saved what it has.
	vm.cmd.SysProcAttr = proc.DieWithParent(&syscall.SysProcAttr{Setpgid: true})
	if err := startWithNice(vm.cmd, c.Nice, vm.exited); err != nil {
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	go func() {
		vm.err = vm.cmd.Wait()
		close(vm.exited)
	}()
	if err := vm.connect(ctx); err != nil {
		vm.Kill()
		return nil, err
	}
	return vm, nil
}

// connect waits for the QMP socket and performs the capabilities handshake.
// The socket is reached through /proc/self/fd/N/qmp.sock of an open handle
// on the run directory, because sun_path is limited to 108 bytes and result
// directories can be deeper than that.
func (vm *VM) connect(ctx context.Context) error {
	d, err := os.Open(vm.Dir)
	if err != nil {
		return fmt.Errorf("open run directory: %w", err)
	}
	vm.dirFD = d
	sock := fmt.Sprintf("/proc/self/fd/%d/%s", d.Fd(), QMPSocket)
	wait := vm.qmpWait
	if wait == 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
	for {
		select {
		case <-vm.exited:
			return fmt.Errorf("QEMU exited before QMP was ready (%v): %s", vm.err, strings.TrimSpace(vm.stderr.String()))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if _, err := os.Stat(filepath.Join(vm.Dir, QMPSocket)); err == nil {
			mon, err := qmp.NewSocketMonitor("unix", sock, 2*time.Second)
			if err == nil {
				if err = mon.Connect(); err == nil {
					vm.mon = mon
					break
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("QEMU's QMP socket did not answer within %s: %s", wait, strings.TrimSpace(vm.stderr.String()))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// go-qemu delivers events on an unbuffered channel from the same
	// goroutine that delivers command replies: an event nobody reads would
	// block the reply to "quit". Pump them into a buffer of our own.
	src, err := vm.mon.Events(ctx)
	if err != nil {
		return fmt.Errorf("QMP events: %w", err)
	}
	vm.events = make(chan qmp.Event, 128)
	vm.pumped.Add(1)
	go func() {
		defer vm.pumped.Done()
		defer close(vm.events)
		for e := range src {
			select {
			case vm.events <- e:
			default: // nobody is reading and the buffer is full: drop
			}
		}
	}()
	if _, err := vm.mon.Run([]byte(`{"execute":"query-status"}`)); err != nil {
		return fmt.Errorf("QMP query-status: %w", err)
	}
	return nil
}

// RunStatus asks QEMU for the VM's run state (QMP query-status):
// "running", "paused", "shutdown", "internal-error" (KVM could not go on),
// "guest-panicked", ...
func (vm *VM) RunStatus(ctx context.Context) (string, error) {
	mon := vm.mon
	if mon == nil {
		return "", errors.New("query-status: QMP is not connected")
	}
	type reply struct {
		Return struct {
			Status string `json:"status"`
		} `json:"return"`
	}
	ch := make(chan []byte, 1)
	errc := make(chan error, 1)
	go func() {
		b, err := mon.Run([]byte(`{"execute":"query-status"}`))
		if err != nil {
			errc <- err
			return
		}
		ch <- b
	}()
	select {
	case b := <-ch:
		var r reply
		if err := json.Unmarshal(b, &r); err != nil {
			return "", fmt.Errorf("query-status: %w", err)
		}
		return r.Return.Status, nil
	case err := <-errc:
		return "", fmt.Errorf("query-status: %w", err)
	case <-vm.exited:
		return "", errors.New("query-status: QEMU exited")
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// Events streams QMP events (SHUTDOWN, GUEST_PANICKED, ...) until the
// connection closes.
func (vm *VM) Events() <-chan qmp.Event { return vm.events }

// Exited is closed when the QEMU process has exited.
func (vm *VM) Exited() <-chan struct{} { return vm.exited }

// ExitErr is QEMU's exit error; valid after Exited is closed.
func (vm *VM) ExitErr() error { return vm.err }

// Stderr returns what QEMU printed.
func (vm *VM) Stderr() string { return vm.stderr.String() }

// Quit asks QEMU to quit over QMP and waits for it to exit, killing it if
// it does not within the grace period.
func (vm *VM) Quit(grace time.Duration) {
	if mon := vm.mon; mon != nil {
		// QEMU may exit before it replies; never wait on the reply itself.
		go mon.Run([]byte(`{"execute":"quit"}`))
	}
	select {
	case <-vm.exited:
	case <-time.After(grace):
		vm.Kill()
	}
	vm.close()
}

// Kill ends QEMU at once.
func (vm *VM) Kill() {
	if vm.cmd.Process != nil {
		vm.cmd.Process.Kill()
	}
	<-vm.exited
	vm.close()
}

func (vm *VM) close() {
	if vm.mon != nil {
		vm.mon.Disconnect()
		vm.mon = nil
	}
	if vm.dirFD != nil {
		vm.dirFD.Close()
		vm.dirFD = nil
	}
}

// ShutdownReason extracts data.reason of a SHUTDOWN event ("guest-reset",
// "guest-shutdown", "host-qmp-quit", ...).
func ShutdownReason(e qmp.Event) string {
	if r, ok := e.Data["reason"].(string); ok {
		return r
	}
	return ""
}

// ErrQEMUMissing reports that the QEMU binary is not installed.
var ErrQEMUMissing = errors.New("QEMU not found")

// Find locates the QEMU binary for x86-64 guests.
func Find(binary string) (string, error) {
	if binary == "" {
		binary = "qemu-system-x86_64"
	}
	p, err := exec.LookPath(binary)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not installed or not in PATH (on Debian: apt-get install qemu-system-x86)", ErrQEMUMissing, binary)
	}
	return p, nil
}
