package fastboot

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// fakeQEMU is a stand-in for QEMU that logs its arguments, one call per
// line, to $calls and then runs body in the probe's directory.
func fakeQEMU(t *testing.T, body string) (bin, calls string) {
	dir := t.TempDir()
	bin, calls = filepath.Join(dir, "qemu-system-x86_64"), filepath.Join(dir, "calls")
	os.WriteFile(bin, []byte(`#!/bin/sh
case "$*" in *"-device help"*) echo 'name "ivshmem-plain", bus PCI'; exit 0 ;; esac
echo "$*" >> `+calls+"\n"+body+"\n"), 0o755)
	return bin, calls
}

func callLines(t *testing.T, calls string) []string {
	b, _ := os.ReadFile(calls)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

const (
	agentUp = `printf 'KTAP version 1\n1..0\n' > stream.ktap; exec sleep 30`
	panics  = `echo 'Kernel panic - not syncing: Attempted to kill init!' > console.log; exit 0`
	hangs   = `exec sleep 30`
	broken  = `echo 'qemu-system-x86_64: -machine microvm: unsupported machine type' >&2; exit 1`
)

// TestMain keeps what the fake QEMUs say about themselves out of the
// user's cache (host/qemu caches it per binary).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vmtest-fastboot-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name    string
		pvh     bool
		body    string
		path    string
		machine qemu.Machine
		note    string // substring ("" : none)
	}{
		{"PVH kernel, microvm works", true, agentUp, PathPVH, qemu.Microvm, ""},
		{"bzImage only, microvm works", false, agentUp, PathBzImage, qemu.Microvm, "bzImage: payload: corrupt payload"},
		{"panics on microvm", true, panics, PathPVH, qemu.PC, "pc: on microvm QEMU ended (<nil>) before the guest agent's first words; the kernel panicked"},
		{"hangs on microvm", true, hangs, PathPVH, qemu.PC, "pc: on microvm the kernel did not reach the guest agent within 500ms"},
		{"QEMU without microvm", true, broken, PathPVH, qemu.PC, "exit status 1) before the guest agent's first words: qemu-system-x86_64: -machine microvm: unsupported machine type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, sum := kernel(t, tt.pvh)
			bin, calls := fakeQEMU(t, tt.body)
			p := Planner{QEMU: bin, CacheDir: t.TempDir(), Initramfs: "/i.cpio", Accel: qemu.KVM, ProbeTimeout: 500 * time.Millisecond, Append: []string{"acpi=off"}}
			b := p.Plan(context.Background(), path, sum)
			if b.Path != tt.path || b.Machine != tt.machine || b.MachineFrom != "probe" {
				t.Errorf("Plan = %+v, want %s on %s, probed", b, tt.path, tt.machine)
			}
			if (tt.note == "") != (b.Note == "") || !strings.Contains(b.Note, tt.note) {
				t.Errorf("note %q, want one containing %q", b.Note, tt.note)
			}
			wantKernel := path
			if tt.path == PathPVH {
				wantKernel = filepath.Join(filepath.Dir(path), "vmlinux")
			}
			if b.Kernel != wantKernel {
				t.Errorf("kernel %s, want %s", b.Kernel, wantKernel)
			}
			probe := callLines(t, calls)
			if len(probe) != 1 || !strings.Contains(probe[0], "-machine microvm,accel=kvm") || !strings.Contains(probe[0], "-kernel "+wantKernel+" ") ||
				!strings.Contains(probe[0], "vmtest.case="+probeCase+" acpi=off") || !strings.Contains(probe[0], "-initrd /i.cpio") ||
				!strings.Contains(probe[0], ",pcie=on ") || !strings.Contains(probe[0], "-device ivshmem-plain,memdev=results-mem") {
				t.Errorf("probe boot: %q", probe)
			}
			// The verdict is cached: a second plan boots nothing.
			again := p.Plan(context.Background(), path, sum)
			if again.Machine != b.Machine || again.MachineFrom != "cache" || again.Note != b.Note {
				t.Errorf("second Plan = %+v, want the cached verdict of %+v", again, b)
			}
			if n := len(callLines(t, calls)); n != 1 {
				t.Errorf("QEMU ran %d times for two plans, want once", n)
			}
			// Another accelerator asks again.
			p.Accel = qemu.TCG
			os.MkdirAll(filepath.Join(p.CacheDir, "accel"), 0o755)
			id, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
			os.WriteFile(filepath.Join(p.CacheDir, "accel", "tsc-"+strings.TrimSpace(string(id))+".khz"), []byte("1234567\n"), 0o644)
			tcg := p.Plan(context.Background(), path, sum)
			last := callLines(t, calls)
			if tcg.MachineFrom != "probe" || len(last) != 2 || !strings.Contains(last[1], "tsc_early_khz=1234567") || !strings.Contains(last[1], "microvm,accel=tcg") {
				t.Errorf("under TCG: %+v, probe %q", tcg, last)
			}
			if tcg.TSCKHz != 1234567 {
				t.Errorf("TSC %d kHz, want the cached 1234567", tcg.TSCKHz)
			}
		})
	}
}

func TestPlanInterrupted(t *testing.T) {
	path, sum := kernel(t, true)
	bin, calls := fakeQEMU(t, hangs)
	p := Planner{QEMU: bin, CacheDir: t.TempDir(), Initramfs: "/i.cpio", Accel: qemu.KVM}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	b := p.Plan(ctx, path, sum)
	if b.Machine != qemu.PC || b.MachineFrom != "rule" || !strings.Contains(b.Note, "interrupted") {
		t.Errorf("interrupted Plan = %+v, want pc, not a verdict", b)
	}
	// Nothing was cached: the next plan probes again.
	bin2, calls2 := fakeQEMU(t, agentUp)
	p.QEMU = bin2
	if b := p.Plan(context.Background(), path, sum); b.Machine != qemu.Microvm || b.MachineFrom != "probe" {
		t.Errorf("after an interrupted probe: %+v, want a new probe", b)
	}
	if len(callLines(t, calls)) != 1 || len(callLines(t, calls2)) != 1 {
		t.Error("want one probe per plan")
	}
}

func TestBootOptions(t *testing.T) {
	b := Boot{Machine: qemu.Microvm, TSCKHz: 2000000}
	c := qemu.New("k", "i", append(b.Options(), qemu.WithAccel(qemu.TCG))...)
	if c.Machine != qemu.Microvm || c.TSCKHz != 2000000 {
		t.Errorf("Options gave %+v", c)
	}
}
