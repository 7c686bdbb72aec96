package testutils

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"
)

// The end-to-end tests' environment variables.
const (
	// EnvQEMU names the QEMU binary (default: qemu-system-x86_64 on PATH).
	EnvQEMU = "VMTEST_E2E_QEMU"
	// EnvCache names the cache the test kernels are taken from (default:
	// the user's, ~/.cache/vmtest, where `make test-kernels` puts them).
	// The tests only read it.
	EnvCache = "VMTEST_E2E_CACHE"
	// EnvRequire=1 turns every skip for a missing part of the environment
	// (QEMU, a kernel) into a failure, so that CI cannot pass by skipping.
	EnvRequire = "VMTEST_E2E_REQUIRE"
)

// Required reports whether VMTEST_E2E_REQUIRE=1 is set.
func Required() bool { return os.Getenv(EnvRequire) == "1" }

// SkipOrFail skips tb with the reason, or fails it when VMTEST_E2E_REQUIRE=1.
func SkipOrFail(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		tb.Fatalf("%s (%s=1: the environment must have it)", msg, EnvRequire)
		return
	}
	tb.Skip(msg)
}

// SkipIfShort skips a test that boots VMs or runs the vmtest binary under
// -short, whatever VMTEST_E2E_REQUIRE says: -short asks for unit tests.
func SkipIfShort(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("boots QEMU or runs the vmtest binary; skipped with -short")
	}
}

// SkipUnlessAMD64 skips where the guest agent cannot be built: its raw
// clone3 is amd64 assembly.
func SkipUnlessAMD64(tb testing.TB) {
	tb.Helper()
	if runtime.GOARCH != "amd64" {
		SkipOrFail(tb, "the guest agent's raw clone3 is amd64 assembly; this is %s", runtime.GOARCH)
	}
}

// QEMU returns the QEMU binary the tests run, $VMTEST_E2E_QEMU or
// qemu-system-x86_64 from PATH, resolved to a path; "" when there is none.
func QEMU() string {
	name := os.Getenv(EnvQEMU)
	if name == "" {
		name = "qemu-system-x86_64"
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return ""
	}
	return p
}

// SkipWithoutQEMU returns the QEMU binary, or skips tb (fails it under
// VMTEST_E2E_REQUIRE=1) when there is none.
func SkipWithoutQEMU(tb testing.TB) string {
	tb.Helper()
	q := QEMU()
	if q == "" {
		name := os.Getenv(EnvQEMU)
		if name == "" {
			name = "qemu-system-x86_64"
		}
		SkipOrFail(tb, "QEMU %s not found (on Debian: apt-get install qemu-system-x86; %s names another)", name, EnvQEMU)
	}
	return q
}
