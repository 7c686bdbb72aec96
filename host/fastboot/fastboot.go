// Package fastboot decides how a run boots its kernel: which file QEMU's
// -kernel gets (the uncompressed ELF through its PVH note, from
// host/vmlinux, or the bzImage) and on which machine (microvm, or pc).
//
// Under TCG the bzImage's own decompressor and pc's firmware are most of
// a distribution kernel's boot: Debian's 6.1 kernel reaches an init that
// exits at once in 4.5 s as a bzImage on pc, 1.7 s as an ELF on pc and
// 1.25 s as an ELF on microvm (docs/fastboot.md). Whether a kernel works
// on microvm is found out by its first run, which boots it there on
// trial: a kernel that does not reach the guest agent on microvm is
// booted again on pc within the same run (host/run does that), and the
// verdict is cached per kernel like the KVM verdict, by Record.
package fastboot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/host/vmlinux"
	"github.com/vmtest/vmtest/internal/atomicfile"
)

// The boot paths Boot.Path names.
const (
	PathPVH     = "pvh-elf"
	PathBzImage = "bzimage"
)

// Boot is how one run boots its kernel, as result.json records it.
type Boot struct {
	// Path is PathPVH or PathBzImage.
	Path string `json:"path"`
	// Machine is the QEMU machine type.
	Machine qemu.Machine `json:"machine"`
	// Kernel is the file QEMU's -kernel gets.
	Kernel string `json:"kernel"`
	// Compression is the bzImage payload's, when it was read.
	Compression vmlinux.Compression `json:"compression,omitempty"`
	// ELFFrom says where the ELF came from: build, cache, extracted.
	ELFFrom string `json:"elf_from,omitempty"`
	// MachineFrom says how the machine was chosen: FromCache, FromTrial,
	// FromFallback or FromRule.
	MachineFrom string `json:"machine_from"`
	// MicrovmFailure says how the kernel, on trial on microvm, failed to
	// reach the guest agent there, and MicrovmMS how long that attempt
	// ran, when this boot is its fallback on pc.
	MicrovmFailure string  `json:"microvm_failure,omitempty"`
	MicrovmMS      float64 `json:"microvm_ms,omitempty"`
	// TSCKHz is the TSC frequency given to a microvm guest under TCG.
	TSCKHz int `json:"tsc_khz,omitempty"`
	// Note says why the boot is slower than it could be: why the bzImage,
	// why pc ("" when neither).
	Note string `json:"note,omitempty"`
	// PlanMS is the host time the decision took.
	PlanMS float64 `json:"plan_ms"`
}

// Options are the QEMU options that make a Config boot this way; the
// caller adds the rest.
func (b Boot) Options() []qemu.Option {
	return []qemu.Option{qemu.WithMachine(b.Machine), qemu.WithTSCKHz(b.TSCKHz)}
}

// How Boot.MachineFrom says the machine was chosen.
const (
	// FromCache: a verdict of an earlier run of this kernel.
	FromCache = "cache"
	// FromTrial: no verdict yet; the kernel boots on microvm, and on pc
	// again if it does not reach the guest agent there.
	FromTrial = "trial"
	// FromFallback: on trial, microvm did not get the kernel to the
	// guest agent (MicrovmFailure says how), so this boot is on pc.
	FromFallback = "fallback"
	// FromRule: the host or the run rules microvm out (Note says why).
	FromRule = "rule"
)

// TrialWindow is how long a kernel on trial on microvm may take to reach
// the guest agent before it is booted again on pc: the window the old
// separate probe boot had, three times the slowest boot to the agent
// measured here under TCG (Debian's kernel as a bzImage on a busy host),
// and KVM's life window under KVM. The host/run caller never lets it
// exceed the run's boot timeout.
func TrialWindow(a qemu.Accel) time.Duration {
	if a == qemu.TCG {
		return 30 * time.Second
	}
	return 10 * time.Second
}

// Planner plans boots. Its fields are those of the run.
type Planner struct {
	QEMU     string
	CacheDir string
	Accel    qemu.Accel
}

// Plan decides how the bzImage at path (SHA-256 sum, hex) boots. It does
// not fail: whatever stands in the way of the fast path sends the kernel
// the old way and is named in Boot.Note. It boots nothing: a kernel with
// no machine verdict is planned on microvm on trial (FromTrial).
func (p Planner) Plan(ctx context.Context, path, sum string) Boot {
	start := time.Now()
	b := Boot{Path: PathBzImage, Kernel: path, Machine: qemu.PC}
	img := vmlinux.Resolve(ctx, path, sum, p.CacheDir)
	b.Compression = img.Compression
	var notes []string
	if img.ELF != "" {
		b.Path, b.Kernel, b.ELFFrom = PathPVH, img.ELF, img.From
	} else {
		notes = append(notes, "bzImage: "+img.Note)
	}
	m, from, why := p.machine(b, sum)
	b.Machine, b.MachineFrom = m.Machine, from
	if b.Machine == qemu.Microvm {
		b.TSCKHz = m.TSCKHz
	}
	if why != "" {
		notes = append(notes, "pc: "+why)
	}
	b.Note = strings.Join(notes, "; ")
	b.PlanMS = float64(time.Since(start).Microseconds()) / 1000
	return b
}

// OnPC is b moved to pc for the reason why, chosen as from (FromRule, or
// FromFallback after the microvm trial failed).
func (b Boot) OnPC(from, why string) Boot {
	b.Machine, b.MachineFrom, b.TSCKHz = qemu.PC, from, 0
	b.Note = strings.TrimPrefix(b.Note+"; pc: "+why, "; ")
	return b
}

// Fallback is b, planned on trial, booted again on pc because on microvm
// the kernel did not reach the guest agent (why), after that attempt ran
// for afterMS.
func (b Boot) Fallback(why string, afterMS float64) Boot {
	b = b.OnPC(FromFallback, why)
	b.MicrovmFailure, b.MicrovmMS = why, afterMS
	return b
}

// verdict is a cached machine choice for one kernel.
type verdict struct {
	Machine qemu.Machine `json:"machine"`
	// Reason says why not microvm ("" when microvm).
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
	// TSCKHz is not cached here: it belongs to the host's boot.
	TSCKHz int `json:"-"`
}

// verdictVersion is part of the verdict's key: a verdict reached another
// way is reached again. (1: a separate probe boot; 2: the run's own boot
// on trial.)
const verdictVersion = 2

// machine chooses the machine for b's kernel file.
func (p Planner) machine(b Boot, sum string) (v verdict, from, why string) {
	if p.Accel == qemu.TCG {
		v.TSCKHz = p.tscKHz()
		if v.TSCKHz == 0 {
			return verdict{Machine: qemu.PC}, FromRule, "the host's TSC frequency is unknown, which a microvm guest under TCG needs"
		}
	}
	if c, ok := loadVerdict(p.verdictPath(b, sum)); ok {
		c.TSCKHz = v.TSCKHz
		return c, FromCache, c.Reason
	}
	v.Machine = qemu.Microvm
	return v, FromTrial, ""
}

// Record caches what the run that booted b (planned by p for the kernel
// whose bzImage has SHA-256 sum) found out about the machine: microvm
// works, when b was on trial on microvm; pc is needed, when b fell back
// to pc and got there. The caller decides that the run got far enough to
// say so; other boots record nothing.
func (p Planner) Record(b Boot, sum string) error {
	var v verdict
	switch {
	case b.MachineFrom == FromTrial && b.Machine == qemu.Microvm:
		v.Machine = qemu.Microvm
	case b.MachineFrom == FromFallback && b.Machine == qemu.PC:
		v.Machine, v.Reason = qemu.PC, b.MicrovmFailure
	default:
		return nil
	}
	v.At = time.Now().UTC()
	return saveVerdict(p.verdictPath(b, sum), v)
}

// verdictPath keys a machine verdict by the kernel file QEMU boots, the
// accelerator and the QEMU binary (a new QEMU may fix microvm).
func (p Planner) verdictPath(b Boot, sum string) string {
	q := p.QEMU
	if abs, err := filepath.EvalSymlinks(q); err == nil {
		q = abs
	}
	ident := q
	if st, err := os.Stat(q); err == nil {
		ident += fmt.Sprintf(" %d %d", st.Size(), st.ModTime().UnixNano())
	}
	h := sha256.Sum256([]byte(fmt.Sprintf("%d\n%s\n%s\n%s\n%s", verdictVersion, sum, b.Path, p.Accel, ident)))
	return filepath.Join(p.CacheDir, "machine", hex.EncodeToString(h[:12])+".json")
}

func loadVerdict(path string) (verdict, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return verdict{}, false
	}
	var v verdict
	if json.Unmarshal(data, &v) != nil || (v.Machine != qemu.PC && v.Machine != qemu.Microvm) {
		return verdict{}, false
	}
	return v, true
}

func saveVerdict(path string, v verdict) error {
	data, _ := json.MarshalIndent(v, "", "  ")
	if err := writeCacheFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("cache machine verdict: %w", err)
	}
	return nil
}

// tscKHz is the host's TSC frequency, measured once per host boot and
// cached under the kernel's boot ID (it cannot change before a reboot).
func (p Planner) tscKHz() int {
	id, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return qemu.HostTSCKHz(0)
	}
	path := filepath.Join(p.CacheDir, "accel", "tsc-"+strings.TrimSpace(string(id))+".khz")
	if data, err := os.ReadFile(path); err == nil {
		if khz, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && khz > 0 {
			return khz
		}
	}
	khz := qemu.HostTSCKHz(0)
	if khz > 0 {
		writeCacheFile(path, []byte(strconv.Itoa(khz)+"\n")) // a cache: losing it costs 10 ms
	}
	return khz
}

// writeCacheFile writes a cache file whole (atomicfile), creating its
// directory.
func writeCacheFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(path, data, 0o644)
}
