package matrix

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Capability numbers the matrix uses. CAP_CHECKPOINT_RESTORE is spelled out
// because it only exists from Linux 5.9 on.
const (
	CapSysAdmin          = unix.CAP_SYS_ADMIN
	CapCheckpointRestore = 40
)

var capName = map[uintptr]string{
	CapSysAdmin:          "CAP_SYS_ADMIN",
	CapCheckpointRestore: "CAP_CHECKPOINT_RESTORE",
}

func capNames(cs []uintptr) string {
	var s []string
	for _, c := range cs {
		if n, ok := capName[c]; ok {
			s = append(s, n)
		} else {
			s = append(s, fmt.Sprintf("cap %d", c))
		}
	}
	return strings.Join(s, "+")
}

// ApplyThreadCaps changes the effective and permitted capability sets of
// the calling thread only. Capabilities are per-thread in Linux, and the
// case body makes its clone3 calls from the same locked OS thread, so this
// gives the call exactly the credentials the case wants without touching
// the Go runtime's other threads.
func ApplyThreadCaps(keepOnly, drop []uintptr) error {
	if len(keepOnly) == 0 && len(drop) == 0 {
		return nil
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
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
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}

// SetEffectiveCap raises or lowers one capability in the calling thread's
// effective set only, leaving it permitted: the state upstream's
// clone3_cap_checkpoint_restore test starts from (a capability the process
// could use but does not hold right now).
func SetEffectiveCap(c uintptr, on bool) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capget: %w", err)
	}
	if on {
		data[c/32].Effective |= 1 << (c % 32)
	} else {
		data[c/32].Effective &^= 1 << (c % 32)
	}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}
