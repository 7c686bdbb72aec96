// Package fastboot decides how a run boots its kernel: which file QEMU's
// -kernel gets (the uncompressed ELF through its PVH note, from
// host/vmlinux, or the bzImage) and on which machine (microvm, or pc).
//
// Under TCG the bzImage's own decompressor and pc's firmware are most of
// a distribution kernel's boot: Debian's 6.1 kernel reaches an init that
// exits at once in 4.5 s as a bzImage on pc, 1.7 s as an ELF on pc and
// 1.25 s as an ELF on microvm (docs/fastboot.md). Whether a kernel works
// on microvm is found out once per kernel, by booting it there to the
// guest agent's first words (a probe boot), and cached like the KVM
// verdict; a kernel that does not get there boots on pc from then on.
package fastboot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
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
	// MachineFrom says how the machine was chosen: "cache", "probe"
	// (a probe boot this run), or "rule" (no probe could decide).
	MachineFrom string `json:"machine_from"`
	// TSCKHz is the TSC frequency given to a microvm guest under TCG.
	TSCKHz int `json:"tsc_khz,omitempty"`
	// Note says why the boot is slower than it could be: why the bzImage,
	// why pc ("" when neither).
	Note string `json:"note,omitempty"`
	// PlanMS is the host time the decision took (a probe boot included).
	PlanMS float64 `json:"plan_ms"`
}

// Options are the QEMU options that make a Config boot this way; the
// caller adds the rest.
func (b Boot) Options() []qemu.Option {
	return []qemu.Option{qemu.WithMachine(b.Machine), qemu.WithTSCKHz(b.TSCKHz)}
}

// Planner plans boots. Its fields are those of the run.
type Planner struct {
	QEMU      string
	CacheDir  string
	Initramfs string
	Accel     qemu.Accel
	// Append holds the run's extra kernel parameters; the probe boot
	// gets them too, since they can decide whether a kernel boots.
	Append []string
	// ProbeTimeout bounds the probe boot (30 s under TCG, 10 s under
	// KVM when zero).
	ProbeTimeout time.Duration
	// Progress receives a line when a probe boot runs; nil discards.
	Progress io.Writer
}

// Plan decides how the bzImage at path (SHA-256 sum, hex) boots. It does
// not fail: whatever stands in the way of the fast path sends the kernel
// the old way and is named in Boot.Note.
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
	m, from, why := p.machine(ctx, b, sum)
	b.Machine, b.MachineFrom = m.Machine, from
	b.TSCKHz = m.TSCKHz
	if why != "" {
		notes = append(notes, "pc: "+why)
	}
	b.Note = strings.Join(notes, "; ")
	b.PlanMS = float64(time.Since(start).Microseconds()) / 1000
	return b
}

// verdict is a cached machine choice for one kernel.
type verdict struct {
	Machine qemu.Machine `json:"machine"`
	// Reason says why not microvm ("" when microvm).
	Reason  string    `json:"reason,omitempty"`
	ProbeMS float64   `json:"probe_ms,omitempty"`
	At      time.Time `json:"at"`
	// TSCKHz is not cached here: it belongs to the host's boot.
	TSCKHz int `json:"-"`
}

// probeVersion is part of the verdict's key: a changed probe asks again.
const probeVersion = 1

// machine chooses the machine for b's kernel file.
func (p Planner) machine(ctx context.Context, b Boot, sum string) (v verdict, from, why string) {
	if p.Accel == qemu.TCG {
		v.TSCKHz = p.tscKHz()
		if v.TSCKHz == 0 {
			return verdict{Machine: qemu.PC}, "rule", "the host's TSC frequency is unknown, which a microvm guest under TCG needs"
		}
	}
	key := p.verdictPath(b, sum)
	if c, ok := loadVerdict(key); ok {
		c.TSCKHz = v.TSCKHz
		return c, "cache", c.Reason
	}
	if p.Initramfs == "" {
		return verdict{Machine: qemu.PC}, "rule", "no initramfs to probe microvm with"
	}
	probe := p.probe(ctx, b.Kernel, v.TSCKHz)
	if ctx.Err() != nil {
		return verdict{Machine: qemu.PC}, "rule", "interrupted before microvm was probed"
	}
	probe.TSCKHz = v.TSCKHz
	if err := saveVerdict(key, probe); err != nil && p.Progress != nil {
		fmt.Fprintf(p.Progress, "warning: %v\n", err)
	}
	return probe, "probe", probe.Reason
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
	h := sha256.Sum256([]byte(fmt.Sprintf("%d\n%s\n%s\n%s\n%s", probeVersion, sum, b.Path, p.Accel, ident)))
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
