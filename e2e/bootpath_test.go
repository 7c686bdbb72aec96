package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/fastboot"
	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/result"
)

// TestRunBootPath: a kernel built with CONFIG_PVH boots its uncompressed
// ELF through the PVH entry, one without it boots its bzImage (the
// minimal kernel is that one under `make test-boot-paths`), and
// result.json says which and why; both on microvm where the host allows
// it, chosen on trial or from the cached verdict.
func TestRunBootPath(t *testing.T) {
	needVMs(t)
	for _, k := range []struct{ name, kernel string }{
		{"minimal", minimalSpec},
		{"debian", "debian"},
	} {
		t.Run(k.name, func(t *testing.T) {
			if k.name == "debian" && os.Getenv(EnvMinimal) != "" {
				t.Skip("the boot-path run is about the minimal kernel")
			}
			out := filepath.Join(t.TempDir(), "run")
			code, stdout, stderr := vmtest(t, "run", "--kernel", kernel(t, k.kernel), "--case", "clone3/plain/ver0", "--out", out)
			if code != 0 {
				t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			r := loadResult(t, out)
			if len(r.Cases) != 1 || r.Cases[0].Outcome != result.Pass {
				t.Errorf("cases %+v, want clone3/plain/ver0 passing", r.Cases)
			}
			b := r.Boot
			if b == nil {
				t.Fatal("result.json has no boot")
			}
			pvh := configHasPVH(t, r.Kernel.Path, r.Kernel.Release)
			t.Logf("CONFIG_PVH=%v: booted %s (%s) on %s (%s); %s", pvh, b.Path, b.Kernel, b.Machine, b.MachineFrom, b.Note)
			switch {
			case pvh && (b.Path != fastboot.PathPVH || b.Kernel == r.Kernel.Path):
				t.Errorf("boot %+v: a CONFIG_PVH kernel must boot its ELF through PVH", b)
			case !pvh && (b.Path != fastboot.PathBzImage || b.Kernel != r.Kernel.Path || !strings.Contains(b.Note, "bzImage: the kernel has no PVH entry note")):
				t.Errorf("boot %+v: a kernel without CONFIG_PVH must boot its bzImage, and say why", b)
			}
			if b.MachineFrom != fastboot.FromRule && (b.Machine != qemu.Microvm || (b.MachineFrom != fastboot.FromTrial && b.MachineFrom != fastboot.FromCache)) {
				t.Errorf("boot %+v: want microvm, on trial or cached", b)
			}
			if r.Timings.HostMS <= 0 {
				t.Errorf("timings.host_ms %v", r.Timings.HostMS)
			}
		})
	}
}

// configHasPVH reads the kernel's config beside its bzImage (a vmtest
// build's "config", a Debian package's "config-RELEASE").
func configHasPVH(t *testing.T, bzImage, release string) bool {
	t.Helper()
	dir := filepath.Dir(bzImage)
	for _, name := range []string{"config", "config-" + release} {
		if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
			return strings.Contains(string(b), "\nCONFIG_PVH=y\n")
		}
	}
	t.Fatalf("no kernel config beside %s", bzImage)
	return false
}
