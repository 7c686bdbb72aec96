package fastboot

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/testutils"
)

// pvhELF is the smallest x86-64 executable with a PVH entry note: an ELF
// header and one PT_NOTE segment.
func pvhELF() []byte {
	le := binary.LittleEndian
	note := le.AppendUint32(nil, 4)  // namesz
	note = le.AppendUint32(note, 8)  // descsz
	note = le.AppendUint32(note, 18) // XEN_ELFNOTE_PHYS32_ENTRY
	note = append(note, "Xen\x00"...)
	note = le.AppendUint64(note, 0x1000850)
	h := make([]byte, 64+56)
	copy(h, "\x7fELF\x02\x01\x01")
	le.PutUint16(h[16:], 2)  // ET_EXEC
	le.PutUint16(h[18:], 62) // EM_X86_64
	le.PutUint32(h[20:], 1)
	le.PutUint64(h[32:], 64) // phoff
	le.PutUint16(h[52:], 64)
	le.PutUint16(h[54:], 56)
	le.PutUint16(h[56:], 1)
	ph := h[64:]
	le.PutUint32(ph, 4) // PT_NOTE
	le.PutUint64(ph[8:], 120)
	le.PutUint64(ph[32:], uint64(len(note)))
	le.PutUint64(ph[40:], uint64(len(note)))
	return append(h, note...)
}

// kernel writes a bzImage; with pvh, also a vmtest build manifest naming
// a PVH ELF beside it, as `vmtest build` leaves them.
func kernel(t *testing.T, pvh bool) (path, sum string) {
	dir := t.TempDir()
	path, err := testutils.WriteBzImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	sum = "ab" + strings.Repeat("0", 62)
	if pvh {
		elf := filepath.Join(dir, "vmlinux")
		os.WriteFile(elf, pvhELF(), 0o644)
		os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"bzimage_sha256":"`+sum+`","vmlinux":"`+elf+`"}`), 0o644)
	}
	return path, sum
}

// tcgPlanner is a planner under TCG whose host TSC frequency is cached
// (1234567 kHz), so that no test depends on measuring it.
func tcgPlanner(t *testing.T) Planner {
	cache := t.TempDir()
	os.MkdirAll(filepath.Join(cache, "accel"), 0o755)
	id, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		t.Skip("no boot ID to key the TSC frequency by")
	}
	os.WriteFile(filepath.Join(cache, "accel", "tsc-"+strings.TrimSpace(string(id))+".khz"), []byte("1234567\n"), 0o644)
	qemuBin := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	os.WriteFile(qemuBin, []byte("#!/bin/sh\nexit 1\n"), 0o755)
	return Planner{QEMU: qemuBin, CacheDir: cache, Accel: qemu.TCG}
}

// TestPlan: a kernel without a verdict is planned on microvm on trial;
// what its run records decides the next plan, per kernel file and
// accelerator, and only the outcomes that say something about the
// machine are recorded.
func TestPlan(t *testing.T) {
	const why = "on microvm the kernel did not reach the guest agent within 30s"
	tests := []struct {
		name string
		pvh  bool
		// record turns the first plan into the boot its run recorded
		// (nil: the run recorded nothing).
		record func(Boot) Boot
		// the second plan of the same kernel
		machine qemu.Machine
		from    string
		note    string // substring ("": none)
	}{
		{name: "a PVH kernel that reached the agent on microvm", pvh: true,
			record: func(b Boot) Boot { return b }, machine: qemu.Microvm, from: FromCache},
		{name: "a bzImage that reached the agent on microvm",
			record: func(b Boot) Boot { return b }, machine: qemu.Microvm, from: FromCache, note: "bzImage: payload: corrupt payload"},
		{name: "a kernel that needed pc", pvh: true,
			record: func(b Boot) Boot { return b.Fallback(why, 30000) }, machine: qemu.PC, from: FromCache, note: "pc: " + why},
		{name: "nothing recorded: still on trial", pvh: true,
			machine: qemu.Microvm, from: FromTrial},
		{name: "pc by rule records nothing", pvh: true,
			record: func(b Boot) Boot { return b.OnPC(FromRule, "a --debug run") }, machine: qemu.Microvm, from: FromTrial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, sum := kernel(t, tt.pvh)
			p := tcgPlanner(t)
			b := p.Plan(context.Background(), path, sum)
			wantPath, wantKernel := PathBzImage, path
			if tt.pvh {
				wantPath, wantKernel = PathPVH, filepath.Join(filepath.Dir(path), "vmlinux")
			}
			if b.Path != wantPath || b.Kernel != wantKernel || b.Machine != qemu.Microvm || b.MachineFrom != FromTrial || b.TSCKHz != 1234567 {
				t.Errorf("first Plan = %+v, want %s of %s on microvm on trial, TSC 1234567 kHz", b, wantPath, wantKernel)
			}
			if tt.record != nil {
				if err := p.Record(tt.record(b), sum); err != nil {
					t.Fatal(err)
				}
			}
			again := p.Plan(context.Background(), path, sum)
			if again.Machine != tt.machine || again.MachineFrom != tt.from || again.Path != wantPath {
				t.Errorf("second Plan = %+v, want %s from %s", again, tt.machine, tt.from)
			}
			if (tt.note == "") != (again.Note == "") || !strings.Contains(again.Note, tt.note) {
				t.Errorf("note %q, want one containing %q", again.Note, tt.note)
			}
			if wantTSC := map[qemu.Machine]int{qemu.Microvm: 1234567}[again.Machine]; again.TSCKHz != wantTSC {
				t.Errorf("TSC %d kHz on %s, want %d", again.TSCKHz, again.Machine, wantTSC)
			}
			// The verdict is the kernel's under this accelerator and
			// this QEMU: another of either tries again.
			for _, other := range []Planner{{QEMU: p.QEMU, CacheDir: p.CacheDir, Accel: qemu.KVM}, {QEMU: p.QEMU + "-other", CacheDir: p.CacheDir, Accel: qemu.TCG}} {
				if b := other.Plan(context.Background(), path, sum); b.MachineFrom != FromTrial {
					t.Errorf("%s under %s: %+v, want a new trial", other.QEMU, other.Accel, b)
				}
			}
		})
	}
}

// TestFallback: the boot on pc after a failed trial says why, how long
// the microvm attempt ran, and drops the microvm-only TSC parameter.
func TestFallback(t *testing.T) {
	b := Boot{Path: PathBzImage, Machine: qemu.Microvm, MachineFrom: FromTrial, TSCKHz: 2000000, Note: "bzImage: no PVH note"}
	f := b.Fallback("on microvm QEMU ended", 1500)
	if f.Machine != qemu.PC || f.MachineFrom != FromFallback || f.TSCKHz != 0 || f.MicrovmMS != 1500 ||
		f.MicrovmFailure != "on microvm QEMU ended" || f.Note != "bzImage: no PVH note; pc: on microvm QEMU ended" {
		t.Errorf("Fallback = %+v", f)
	}
	if r := (Boot{Machine: qemu.Microvm}).OnPC(FromRule, "why"); r.Note != "pc: why" || r.Machine != qemu.PC {
		t.Errorf("OnPC = %+v", r)
	}
}

func TestBootOptions(t *testing.T) {
	b := Boot{Machine: qemu.Microvm, TSCKHz: 2000000}
	c := qemu.New("k", "i", append(b.Options(), qemu.WithAccel(qemu.TCG))...)
	if c.Machine != qemu.Microvm || c.TSCKHz != 2000000 {
		t.Errorf("Options gave %+v", c)
	}
}
