//go:build linux

package matrix

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
)

// ApplyCaps changes the effective and permitted capability sets of the
// task that sys calls from: the body's locked thread, or its proxy.
// Capabilities are per task in Linux, so this gives the body's clone3 calls
// exactly the credentials the case wants without touching the Go
// runtime's other threads.
func ApplyCaps(sys clone3.Sys, keepOnly, drop []Cap) error {
	if len(keepOnly) == 0 && len(drop) == 0 {
		return nil
	}
	hdr, data, err := capget(sys)
	if err != nil {
		return err
	}
	if len(keepOnly) > 0 {
		var keep [2]uint32
		for _, c := range keepOnly {
			keep[c/32] |= 1 << (c % 32)
		}
		for i := range data {
			data[i].Effective &= keep[i]
			data[i].Permitted &= keep[i]
			data[i].Inheritable = 0
		}
	}
	for _, c := range drop {
		data[c/32].Effective &^= 1 << (c % 32)
		data[c/32].Permitted &^= 1 << (c % 32)
	}
	return capset(sys, hdr, data)
}

// SetEffectiveCap raises or lowers one capability in the effective set of
// the body's calling task only, leaving it permitted: the state upstream's
// clone3_cap_checkpoint_restore test starts from (a capability the process
// could use but does not hold right now).
func (t *T) SetEffectiveCap(c Cap, on bool) error {
	sys := t.Sys()
	hdr, data, err := capget(sys)
	if err != nil {
		return err
	}
	if on {
		data[c/32].Effective |= 1 << (c % 32)
	} else {
		data[c/32].Effective &^= 1 << (c % 32)
	}
	return capset(sys, hdr, data)
}

// SetCaps makes caps the task's whole effective and permitted sets.
func SetCaps(sys clone3.Sys, caps []Cap) error {
	hdr, data, err := capget(sys)
	if err != nil {
		return err
	}
	var set [2]uint32
	for _, c := range caps {
		set[c/32] |= 1 << (c % 32)
	}
	for i := range data {
		data[i].Effective, data[i].Permitted, data[i].Inheritable = set[i], set[i], 0
	}
	return capset(sys, hdr, data)
}

// capget reads the calling task's capabilities into heap memory (a proxy
// may be the one writing them).
func capget(sys clone3.Sys) (*unix.CapUserHeader, *[2]unix.CapUserData, error) {
	hdr := clone3.Heap[unix.CapUserHeader]()
	hdr.Version = unix.LINUX_CAPABILITY_VERSION_3
	data := clone3.Heap[[2]unix.CapUserData]()
	if _, e := sys(unix.SYS_CAPGET, uintptr(unsafe.Pointer(hdr)), uintptr(unsafe.Pointer(data))); e != 0 {
		return nil, nil, fmt.Errorf("capget: %w", e)
	}
	return hdr, data, nil
}

func capset(sys clone3.Sys, hdr *unix.CapUserHeader, data *[2]unix.CapUserData) error {
	if _, e := sys(unix.SYS_CAPSET, uintptr(unsafe.Pointer(hdr)), uintptr(unsafe.Pointer(data))); e != 0 {
		return fmt.Errorf("capset: %w", e)
	}
	runtime.KeepAlive(hdr)
	runtime.KeepAlive(data)
	return nil
}
