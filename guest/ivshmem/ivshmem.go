//go:build linux

// Package ivshmem finds QEMU's ivshmem-plain PCI device in the guest and
// maps its shared memory (BAR 2) through sysfs, with no driver: the
// agent's result channel when the host adds the device and the kernel has
// PCI. The memory is a host file (see internal/shmlog), so what the agent
// writes is on the host the moment it is written, even if the kernel
// panics right after.
package ivshmem

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/shmlog"
)

// DevicesDir is where sysfs lists PCI devices.
const DevicesDir = "/sys/bus/pci/devices"

// ErrNoDevice means the VM has no ivshmem device the agent can use.
var ErrNoDevice = errors.New("no ivshmem device")

// Channel is the result stream in an ivshmem device's memory.
type Channel struct {
	*shmlog.Writer
	// Device is the device's PCI address, e.g. 0000:00:02.0.
	Device string
	mem    []byte
}

// Open finds the ivshmem device under dir (DevicesDir in the guest) that
// the host set up for results, its region carrying the shmlog header, and
// returns a Channel appending to its memory. Other ivshmem devices are
// left alone.
func Open(dir string) (*Channel, error) {
	devs, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDevice, err)
	}
	var errs []error
	for _, d := range devs {
		path := filepath.Join(dir, d.Name())
		if id(path, "vendor") != contract.IvshmemVendorID || id(path, "device") != contract.IvshmemDeviceID {
			continue
		}
		// On a machine without PCI firmware (microvm) nothing has
		// turned the device's memory decoding on, and with no driver to
		// do it the BAR reads as zeros: enable it (on pc a no-op).
		os.WriteFile(filepath.Join(path, "enable"), []byte("1"), 0)
		mem, err := mapBAR(filepath.Join(path, "resource2"))
		if err != nil {
			errs = append(errs, fmt.Errorf("ivshmem %s: %w", d.Name(), err))
			continue
		}
		w, err := shmlog.NewWriter(mem)
		if err != nil {
			unix.Munmap(mem)
			errs = append(errs, fmt.Errorf("ivshmem %s: %w", d.Name(), err))
			continue
		}
		return &Channel{Writer: w, Device: d.Name(), mem: mem}, nil
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return nil, ErrNoDevice
}

func id(dev, file string) string {
	b, _ := os.ReadFile(filepath.Join(dev, file))
	return string(bytes.TrimSpace(b))
}

// mapBAR maps a sysfs PCI resource file whole, for reading and writing.
func mapBAR(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() <= shmlog.HeaderSize {
		return nil, fmt.Errorf("%s: BAR of %d bytes", strings.TrimPrefix(path, "/sys/"), st.Size())
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return mem, nil
}

// Close unmaps the memory; what was written stays on the host.
func (c *Channel) Close() error { return unix.Munmap(c.mem) }
