package doctor

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/initramfs"
	"github.com/vmtest/vmtest/internal/testutils"
)

// fakeQEMU answers --version and -device help, and runs the probe
// firmware to its end under TCG and hangs it under KVM, like the
// development machine's QEMU.
func fakeQEMU(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	sh := `#!/bin/sh
[ "$1" = --version ] && { echo "QEMU emulator version 9.9.9 (fake)"; exit 0; }
for a; do
	case "$a" in
	help) echo 'name "isa-debug-exit", bus ISA'; echo 'name "pvpanic", bus ISA'; exit 0 ;;
	pc,accel=kvm) exec sleep 60 ;;
	file:*) serial=${a#file:} ;;
	esac
done
printf 'RPTLCMFUXok\n' > "$serial"
exit 85
`
	if err := os.WriteFile(p, []byte(sh), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInspect(t *testing.T) {
	cache := t.TempDir()
	os.MkdirAll(filepath.Join(cache, "build", "kernel-a"), 0o755)
	os.MkdirAll(filepath.Join(cache, "build", "kernel-b"), 0o755)
	os.MkdirAll(filepath.Join(cache, "build", ".partial-c"), 0o755) // not an entry
	os.WriteFile(filepath.Join(cache, "build", "kernel-a", "bzImage"), make([]byte, 64<<10), 0o644)
	os.WriteFile(filepath.Join(cache, "initramfs-1-ab.cpio"), make([]byte, 10<<10), 0o644)
	kvm := filepath.Join(t.TempDir(), "kvm")
	os.WriteFile(kvm, nil, 0o600)

	bin := fakeQEMU(t)
	agent, err := testutils.WriteStaticAgent(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Inspect(t.Context(), Options{QEMU: bin, CacheDir: cache, Device: kvm, Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	if r.QEMUVersion != "QEMU emulator version 9.9.9 (fake)" || !r.Devices["pvpanic"] || r.Devices["ivshmem-plain"] {
		t.Errorf("QEMU %q devices %v", r.QEMUVersion, r.Devices)
	}
	if r.Verdict == nil || r.Verdict.Usable || r.VerdictCached || !strings.Contains(r.Verdict.Reason, "hung") {
		t.Errorf("verdict %+v cached %v: want a fresh 'hung' verdict", r.Verdict, r.VerdictCached)
	}
	if !r.Usable() {
		t.Errorf("TCG runs the probe, yet the host is not usable: %v", r.TCG)
	}
	byName := map[string]Cache{}
	for _, c := range r.Caches {
		byName[c.Name] = c
	}
	if c := byName["build"]; c.Entries != 2 || c.Bytes < 64<<10 {
		t.Errorf("build cache %+v, want 2 entries of at least 64 KiB", c)
	}
	if c := byName["initramfs"]; c.Entries != 1 {
		t.Errorf("initramfs cache %+v", c)
	}
	if c := byName["accel"]; c.Entries != 1 {
		t.Errorf("the verdict was not cached: %+v", c)
	}

	// The second look reads the cached verdict.
	r2, err := Inspect(t.Context(), Options{QEMU: bin, CacheDir: cache, Device: kvm, Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	r2.Write(&out)
	for _, want := range []string{"QEMU emulator version 9.9.9 (fake)", "ivshmem-plain    NO", "not usable: the probe guest hung", "cached ", "build         2", "Guest agent\n  " + agent + "\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}

func TestInspectNoQEMU(t *testing.T) {
	r, err := Inspect(t.Context(), Options{QEMU: filepath.Join(t.TempDir(), "none"), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if r.Usable() || !strings.Contains(r.QEMUError, "apt-get install qemu-system-x86") {
		t.Errorf("usable %v, error %q", r.Usable(), r.QEMUError)
	}
}

// TestInspectAgent: a run cannot work without a static guest agent, and
// the report says which agent it would boot or why there is none.
func TestInspectAgent(t *testing.T) {
	t.Setenv(initramfs.AgentEnv, "")
	dir := t.TempDir()
	dynamic := filepath.Join(dir, "dynamic")
	if err := os.WriteFile(dynamic, testutils.ELF(uint16(elf.EM_X86_64), true), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, agent, want string
	}{
		{"dynamic", dynamic, "is dynamically linked"},
		// The test binary has no vmtest-agent beside it.
		{"none beside the executable", "", "not found beside"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path, err := initramfs.Agent(tt.agent)
			why := ""
			if err != nil {
				why = err.Error()
			}
			if !strings.Contains(why, tt.want) {
				t.Errorf("agent(%q) = %q, %q; want the reason to say %q", tt.agent, path, why, tt.want)
			}
			r := &Report{AgentError: why}
			var out strings.Builder
			r.Write(&out)
			if r.Usable() || !strings.Contains(out.String(), "Guest agent\n  not usable: ") {
				t.Errorf("usable %v with no agent:\n%s", r.Usable(), out.String())
			}
		})
	}
}
