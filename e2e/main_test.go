package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/compare"
	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/testutils"
)

// EnvBin names the vmtest binary under test (default: built here).
const EnvBin = "VMTEST_E2E_BIN"

// vmtest's exit statuses (cmd/vmtest).
const (
	exitUsage       = 2
	exitInterrupted = 130
)

// deadline bounds every vmtest command a test runs: a hung one fails its
// test instead of holding the suite until go test's timeout. The longest,
// a comparison of the whole matrix with a confirmation round under TCG,
// takes about two minutes.
const deadline = 10 * time.Minute

var (
	vmtestBin string // the binary under test
	cacheDir  string // the runs' own cache, seeded with the test kernels
	qemuBin   string // "" when there is none: every test skips
)

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run()) // every test skips: nothing to build
	}
	code, err := setUp(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

func setUp(m *testing.M) (int, error) {
	dir, err := os.MkdirTemp("", "vmtest-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if vmtestBin = os.Getenv(EnvBin); vmtestBin == "" {
		vmtestBin = filepath.Join(dir, "vmtest")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		// Both commands into one directory, where vmtest finds its agent;
		// the agent is the guest's /init, so it must be static.
		cmd := exec.CommandContext(ctx, "go", "build", "-o", dir+"/", "../cmd/vmtest", "../cmd/vmtest-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("build vmtest and its agent: %v\n%s", err, out)
		}
	}
	cacheDir = filepath.Join(dir, "cache")
	if err := testutils.SeedCache(cacheDir); err != nil {
		return 0, err
	}
	qemuBin = testutils.QEMU()
	// Every run's shared-memory result region goes in a temporary
	// directory of its own; none may outlive its run, whatever the run's
	// fate (the failure tests end runs every way there is).
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return 0, err
	}
	os.Setenv("TMPDIR", tmp)
	code := m.Run()
	if left, _ := filepath.Glob(filepath.Join(tmp, "vmtest-results-*")); len(left) > 0 && code == 0 {
		return 1, fmt.Errorf("runs left shared-memory result regions behind: %v", left)
	}
	return code, nil
}

// needBinary skips a test that runs the vmtest binary under -short.
func needBinary(t testing.TB) {
	t.Helper()
	testutils.SkipIfShort(t)
}

// needVMs skips a test that boots VMs where it cannot.
func needVMs(t testing.TB) {
	t.Helper()
	testutils.SkipIfShort(t)
	testutils.SkipUnlessAMD64(t)
	testutils.SkipWithoutQEMU(t)
}

// EnvMinimal names the kernel that the tests of the minimal kernel (the
// build spec "build") boot instead: another build spec, such as
// build:config=minimal,config=no-pvh (`make test-boot-paths`), so that
// the suite covers the bzImage boot path as well as the PVH one.
const EnvMinimal = "VMTEST_E2E_MINIMAL"

// minimalSpec is the minimal kernel's build spec.
const minimalSpec = "build"

// kernel returns a test kernel for --kernel (see testutils.RequireKernel);
// the minimal one is EnvMinimal's when that is set.
func kernel(t testing.TB, name string) string {
	t.Helper()
	if m := os.Getenv(EnvMinimal); name == minimalSpec && m != "" {
		name = m
	}
	return testutils.RequireKernel(t, name)
}

// debianKernel returns the path of Debian's cached kernel.
func debianKernel(t testing.TB) string {
	t.Helper()
	return kernel(t, "debian")
}

// command returns vmtest with args, ended (SIGTERM, which lets it stop its
// VMs, then SIGKILL) when the test ends or after d. Runs, builds
// and comparisons get the suite's cache and QEMU unless args name their
// own.
func command(t testing.TB, args ...string) (*exec.Cmd, context.Context) {
	t.Helper()
	return commandWithin(t, deadline, args...)
}

// commandWithin is command with a deadline of d.
func commandWithin(t testing.TB, d time.Duration, args ...string) (*exec.Cmd, context.Context) {
	t.Helper()
	if len(args) > 0 {
		var extra []string
		if slices.Contains([]string{"run", "compare", "build", "doctor"}, args[0]) && !slices.Contains(args, "--cache") {
			extra = append(extra, "--cache", cacheDir)
		}
		if slices.Contains([]string{"run", "compare", "doctor"}, args[0]) && !slices.Contains(args, "--qemu") && qemuBin != "" {
			extra = append(extra, "--qemu", qemuBin)
		}
		args = append(append([]string{args[0]}, extra...), args[1:]...)
	}
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, vmtestBin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	return cmd, ctx
}

// vmtest runs the binary and returns its exit status, stdout and stderr.
func vmtest(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	return vmtestWithin(t, deadline, args...)
}

// vmtestWithin is vmtest with a deadline of d.
func vmtestWithin(t testing.TB, d time.Duration, args ...string) (int, string, string) {
	t.Helper()
	cmd, ctx := commandWithin(t, d, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		t.Fatalf("vmtest %v still ran after %s\nstderr:\n%s", args, d, errb.String())
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("run vmtest %v: %v", args, err)
	return -1, "", ""
}

// wantShm says whether runs here get the shared-memory result channel:
// the QEMU has ivshmem (Debian's does; some builds lack it).
func wantShm(t testing.TB) bool {
	return qemuBin != "" && qemu.HasDevice(t.Context(), qemuBin, "ivshmem-plain")
}

func loadResult(t *testing.T, dir string) *run.Result {
	t.Helper()
	r, err := run.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readComparison loads comparison.json.
func readComparison(t *testing.T, dir string) compare.Comparison {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, compare.JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var c compare.Comparison
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// repoFile is the absolute path of a file of the repository.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", rel))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// needSlow skips tests that build several kernels from scratch (tens of
// minutes on two cores) unless VMTEST_E2E_SLOW=1: `make test-slow` runs
// them. They are not skipped silently: the skip says how to run them.
func needSlow(t testing.TB) {
	t.Helper()
	if os.Getenv("VMTEST_E2E_SLOW") != "1" {
		t.Skip("builds kernels from scratch for tens of minutes: run with VMTEST_E2E_SLOW=1 (make test-slow)")
	}
}
