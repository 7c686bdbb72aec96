package qemu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeQEMU writes a stand-in for QEMU that answers --version, finds the
// probe's accelerator and serial file in its arguments, and then runs
// body with $accel and $serial set. Every call is counted in $calls.
func fakeQEMU(t *testing.T, body string) (bin, calls string) {
	t.Helper()
	dir := t.TempDir()
	calls = filepath.Join(dir, "calls")
	bin = filepath.Join(dir, "qemu-system-x86_64")
	sh := `#!/bin/sh
[ "$1" = --version ] && { echo "QEMU emulator version 9.9.9 (fake)"; exit 0; }
accel=; serial=
for a; do
	case "$a" in
	pc,accel=*) accel=${a#pc,accel=} ;;
	file:*) serial=${a#file:} ;;
	esac
done
echo "$accel" >> ` + calls + `
works() { printf 'RPTLCMFUXok\n' > "$serial"; exit 85; }
` + body + "\n"
	if err := os.WriteFile(bin, []byte(sh), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, calls
}

// probes returns the accelerators the fake QEMU was started with.
func probes(t *testing.T, calls string) []string {
	t.Helper()
	b, err := os.ReadFile(calls)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// kvmNode stands in for /dev/kvm: a file the test may open read-write.
func kvmNode(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "kvm")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProbeAccelOutcomes(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		reached string
		err     string // substring; "" means success
	}{
		{"works", "works", "locked instructions (cmpxchg16b)", ""},
		{"hangs in real mode", `printf R > "$serial"; exec sleep 60`, "real mode", "the probe guest hung after real mode (no exit within 300ms under kvm)"},
		{"hangs at once", `exec sleep 60`, "", "the probe guest hung before its first step"},
		{"aborts", `echo 'qemu-system-x86_64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Operation not permitted' >&2; echo more >&2; exit 1`, "",
			"the probe guest under kvm failed before its first step (exit status 1): qemu-system-x86_64: kvm_init_vcpu: kvm_arch_init_vcpu failed (0): Operation not permitted"},
		{"triple fault", `printf RPTL > "$serial"; exit 0`, "entering long mode", "the probe guest reset (a fault it could not take) after entering long mode under kvm"},
		{"exit code without output", `exit 85`, "", "the probe guest exited without writing its serial output"},
		{"stops before cmpxchg16b", `printf RPTLCMFU > "$serial"; exit 85`, "page-table updates with paging on", "the probe guest exited without writing its serial output"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, _ := fakeQEMU(t, tt.body)
			r := ProbeAccel(t.Context(), bin, KVM, 300*time.Millisecond)
			if r.Reached != tt.reached {
				t.Errorf("Reached = %q, want %q", r.Reached, tt.reached)
			}
			if tt.err == "" {
				if r.Err != nil {
					t.Errorf("Err = %v, want nil", r.Err)
				}
				return
			}
			if r.Err == nil || !strings.Contains(r.Err.Error(), tt.err) {
				t.Errorf("Err = %v, want it to contain %q", r.Err, tt.err)
			}
		})
	}
}

// TestProbeAccelArgs: the probe boots with the CPU model and machine the
// real VM uses, its serial port on a file, and leaves nothing behind.
func TestProbeAccelArgs(t *testing.T) {
	out := filepath.Join(t.TempDir(), "argv")
	bin, _ := fakeQEMU(t, `for a; do printf '%s\n' "$a"; done > `+out+`; works`)
	for _, a := range []Accel{TCG, KVM} {
		if r := ProbeAccel(t.Context(), bin, a, 10*time.Second); r.Err != nil {
			t.Fatalf("ProbeAccel(%s): %v", a, r.Err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		argv := append([]string{bin}, strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")...)
		if got := flag(argv, "-machine"); !slices.Equal(got, []string{"pc,accel=" + string(a)}) {
			t.Errorf("%s: -machine %q", a, got)
		}
		if got := flag(argv, "-cpu"); !slices.Equal(got, []string{CPUModel(a)}) {
			t.Errorf("%s: -cpu %q, want %s", a, got, CPUModel(a))
		}
		if got := flag(argv, "-smp"); !slices.Equal(got, []string{smpArg(2)}) {
			t.Errorf("%s: -smp %q", a, got)
		}
		if got := flag(argv, "-device"); !slices.Equal(got, []string{"isa-debug-exit,iobase=0xf4,iosize=0x04"}) {
			t.Errorf("%s: -device %q", a, got)
		}
		if got := flag(argv, "-bios"); len(got) != 1 || filepath.Base(got[0]) != "probe.bin" {
			t.Errorf("%s: -bios %q", a, got)
		} else if _, err := os.Stat(filepath.Dir(got[0])); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: probe directory %s left behind (%v)", a, filepath.Dir(got[0]), err)
		}
	}
}

// TestProbeFirmwareImage: the reset vector jumps to the code at the start
// of the image, and the code is there.
func TestProbeFirmwareImage(t *testing.T) {
	fw := probeFirmware()
	if len(fw) != 64<<10 {
		t.Fatalf("firmware is %d bytes", len(fw))
	}
	if !bytes.Equal(fw[0xfff0:0xfff5], []byte{0xea, 0, 0, 0, 0xf0}) {
		t.Errorf("reset vector % x", fw[0xfff0:0xfff5])
	}
	if len(probeCode) < 100 || !bytes.Equal(fw[:len(probeCode)], probeCode) {
		t.Errorf("probe code missing (%d bytes)", len(probeCode))
	}
}

// TestProbeBinMatchesSource: probe.bin is what probefw/probe.asm
// assembles to, so nobody edits one without the other.
func TestProbeBinMatchesSource(t *testing.T) {
	as, err1 := exec.LookPath("as")
	ld, err2 := exec.LookPath("ld")
	if err1 != nil || err2 != nil {
		t.Skip("binutils (as, ld) not installed")
	}
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, "probe.o"), filepath.Join(dir, "probe.bin")
	if out, err := exec.Command(as, "--64", "-o", obj, "probefw/probe.asm").CombinedOutput(); err != nil {
		t.Fatalf("as: %v\n%s", err, out)
	}
	if out, err := exec.Command(ld, "-m", "elf_x86_64", "-e", "0xf0000", "-Ttext=0xf0000", "--oformat", "binary", "-o", bin, obj).CombinedOutput(); err != nil {
		t.Fatalf("ld: %v\n%s", err, out)
	}
	got, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, probeCode) {
		t.Errorf("probe.bin (%d bytes) is not what probefw/probe.asm assembles to (%d bytes): rebuild it as the .asm header says", len(probeCode), len(got))
	}
}

// TestProbeRealQEMU: the real probe runs to its end under TCG.
func TestProbeRealQEMU(t *testing.T) {
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 not installed")
	}
	r := ProbeAccel(t.Context(), bin, TCG, 30*time.Second)
	if r.Err != nil || r.Reached != probeStages[len(probeStages)-1].what {
		t.Errorf("ProbeAccel(TCG) = %v, reached %q", r.Err, r.Reached)
	}
}

func TestChooser(t *testing.T) {
	// Far too slow, for this test: 1.5 s more than TCG's probe. The fake
	// QEMU is a shell script, and on a loaded runner starting one can take
	// a few hundred milliseconds more for one probe than the other: the
	// margin keeps "KVM works" from reading as "too slow".
	defer func(d time.Duration) { kvmTooSlow = d }(kvmTooSlow)
	kvmTooSlow = 1500 * time.Millisecond
	hang := `[ "$accel" = kvm ] && { printf R > "$serial"; exec sleep 60; }; works`
	slow := `[ "$accel" = kvm ] && sleep 2.5; works`
	tests := []struct {
		name   string
		body   string
		device bool // a KVM node that opens
		mode   AccelMode
		accel  Accel
		// warning or error text (substring); "" for neither
		warning, err string
		// the probes expected on the first call (none on the second)
		probes []string
	}{
		{"tcg asks nothing", hang, true, AccelTCG, TCG, "", "", nil},
		{"auto, KVM works", "works", true, AccelAuto, KVM, "", "", []string{"kvm", "tcg"}},
		{"kvm, KVM works", "works", true, AccelKVM, KVM, "", "", []string{"kvm", "tcg"}},
		{"auto, KVM hangs", hang, true, AccelAuto, TCG, "KVM not usable: the probe guest hung after real mode", "", []string{"kvm"}},
		{"kvm, KVM hangs", hang, true, AccelKVM, "", "", "KVM is not usable: the probe guest hung after real mode", []string{"kvm"}},
		{"auto, KVM aborts", `[ "$accel" = kvm ] && { echo 'qemu: -cpu host: KVM aborted' >&2; exit 1; }; works`, true, AccelAuto, TCG,
			"KVM not usable: the probe guest under kvm failed before its first step (exit status 1): qemu: -cpu host: KVM aborted", "", []string{"kvm"}},
		{"auto, KVM far too slow", slow, true, AccelAuto, TCG, "(KVM runs it, far too slowly)", "", []string{"kvm", "tcg"}},
		{"auto, no /dev/kvm", "works", false, AccelAuto, TCG, "KVM not usable: cannot open ", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, calls := fakeQEMU(t, tt.body)
			// Hangs are told by the probe timeout, kept short; the slow
			// KVM's probe must end within it.
			timeout := 800 * time.Millisecond
			if tt.body == slow {
				timeout = 6 * time.Second
			}
			c := Chooser{Binary: bin, CacheDir: t.TempDir(), Device: filepath.Join(t.TempDir(), "none"), ProbeTimeout: timeout}
			if tt.device {
				c.Device = kvmNode(t)
			}
			for round := range 2 {
				got, err := c.Choose(t.Context(), tt.mode)
				if tt.err != "" {
					if !errors.Is(err, ErrKVMUnusable) || !strings.Contains(err.Error(), tt.err) {
						t.Fatalf("round %d: Choose = %v, want ErrKVMUnusable with %q", round, err, tt.err)
					}
				} else if err != nil {
					t.Fatalf("round %d: Choose: %v", round, err)
				}
				if got.Accel != tt.accel {
					t.Errorf("round %d: Accel = %q, want %q", round, got.Accel, tt.accel)
				}
				if (tt.warning == "") != (got.Warning == "") || !strings.Contains(got.Warning, tt.warning) {
					t.Errorf("round %d: Warning = %q, want %q", round, got.Warning, tt.warning)
				}
				if tt.mode != AccelTCG && got.Verdict != nil && got.Cached != (round == 1) {
					t.Errorf("round %d: Cached = %v", round, got.Cached)
				}
				if p := probes(t, calls); !slices.Equal(p, tt.probes) {
					t.Errorf("round %d: probes %q, want %q (the second round must use the cache)", round, p, tt.probes)
				}
			}
		})
	}
}

// TestChooserRecordedFailure: once a real guest failed under KVM, the
// cached verdict sends auto to TCG and refuses kvm, without probing.
func TestChooserRecordedFailure(t *testing.T) {
	bin, calls := fakeQEMU(t, "works")
	c := Chooser{Binary: bin, CacheDir: t.TempDir(), Device: kvmNode(t)}
	if got, err := c.Choose(t.Context(), AccelAuto); err != nil || got.Accel != KVM {
		t.Fatalf("Choose = %v, %v; want KVM", got, err)
	}
	reason := "the guest showed no sign of life within 10s under KVM"
	if err := c.RecordKVMFailure(t.Context(), reason); err != nil {
		t.Fatal(err)
	}
	got, err := c.Choose(t.Context(), AccelAuto)
	if err != nil || got.Accel != TCG || !strings.Contains(got.Warning, reason) || got.Verdict.How != "run" {
		t.Errorf("auto after a recorded failure = %+v, %v", got, err)
	}
	if _, err := c.Choose(t.Context(), AccelKVM); !errors.Is(err, ErrKVMUnusable) || !strings.Contains(err.Error(), reason) {
		t.Errorf("kvm after a recorded failure: %v", err)
	}
	if p := probes(t, calls); !slices.Equal(p, []string{"kvm", "tcg"}) {
		t.Errorf("probes %q: only the first Choose may probe", p)
	}
}

// TestVerdictKey: a verdict cached for another QEMU or host is not used.
func TestVerdictKey(t *testing.T) {
	dir := t.TempDir()
	h := HostKey{QEMU: "/usr/bin/qemu", QEMUVersion: "7.2", KernelRelease: "6.1", CPU: "Xeon"}
	if err := SaveVerdict(dir, Verdict{Host: h, Usable: true, How: "probe"}); err != nil {
		t.Fatal(err)
	}
	if LoadVerdict(dir, h) == nil {
		t.Fatal("saved verdict not found")
	}
	for _, other := range []HostKey{
		{QEMU: "/usr/bin/qemu", QEMUVersion: "8.0", KernelRelease: "6.1", CPU: "Xeon"},
		{QEMU: "/usr/bin/qemu", QEMUVersion: "7.2", KernelRelease: "6.2", CPU: "Xeon"},
		{QEMU: "/usr/bin/qemu", QEMUVersion: "7.2", KernelRelease: "6.1", CPU: "EPYC"},
		{QEMU: "/opt/qemu", QEMUVersion: "7.2", KernelRelease: "6.1", CPU: "Xeon"},
		{QEMU: "/usr/bin/qemu", QEMUVersion: "7.2", KernelRelease: "6.1", CPU: "Xeon", Probe: "a newer probe"},
	} {
		if LoadVerdict(dir, other) != nil {
			t.Errorf("verdict for %+v used for %+v", h, other)
		}
	}
}

func TestParseAccelMode(t *testing.T) {
	for in, want := range map[string]AccelMode{"": AccelAuto, "auto": AccelAuto, "kvm": AccelKVM, "tcg": AccelTCG} {
		if got, err := ParseAccelMode(in); err != nil || got != want {
			t.Errorf("ParseAccelMode(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{"TCG", "hvf", "kvm "} {
		if _, err := ParseAccelMode(in); err == nil || !strings.Contains(err.Error(), "want auto, kvm or tcg") {
			t.Errorf("ParseAccelMode(%q) = %v", in, err)
		}
	}
}

// TestStartStderrRace: a QEMU that writes to stderr and never opens its
// QMP socket; the error path reads stderr while QEMU still writes it
// (run under -race).
func TestStartStderrRace(t *testing.T) {
	dir := t.TempDir()
	bin := script(t, "while :; do echo 'qemu: still starting' >&2; sleep 0.01; done")
	cfg := New("k", "i", WithBinary(bin))
	cfg.QMPWait = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := Start(ctx, cfg, dir)
	if err == nil || !strings.Contains(err.Error(), "QMP socket did not answer within 300ms: qemu: still starting") {
		t.Errorf("Start = %v", err)
	}
}
