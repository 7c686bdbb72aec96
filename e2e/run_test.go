package e2e

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/ktap"
	"github.com/vmtest/vmtest/internal/result"
)

// TestRunDebianKernel is issue 2's main job: every case of the matrix on
// Debian's stock 6.1 kernel must pass, with the result directory complete.
func TestRunDebianKernel(t *testing.T) {
	needVMs(t)
	k := debianKernel(t)
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := vmtest(t, "run", "--kernel", k, "--out", out)
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := loadResult(t, out)
	if r.Status != run.Completed {
		t.Errorf("status %s, want completed", r.Status)
	}
	// The user's umask, not os.MkdirTemp's 0700: a CI uploader running as
	// another user must be able to read the results.
	umask := syscall.Umask(0o22)
	syscall.Umask(umask)
	if fi, err := os.Stat(out); err != nil || fi.Mode().Perm() != 0o777&^os.FileMode(umask) {
		t.Errorf("result directory mode %v, want %v (umask %03o)", fi.Mode().Perm(), 0o777&^os.FileMode(umask), umask)
	}
	if !strings.HasPrefix(r.Kernel.Release, "6.1.") {
		t.Errorf("kernel release %q, want 6.1.*", r.Kernel.Release)
	}
	want := map[string]bool{}
	for _, c := range catalog.All() {
		want[c.ID] = true
	}
	if len(r.Cases) != len(catalog.All()) {
		t.Errorf("%d cases reported, want %d", len(r.Cases), len(catalog.All()))
	}
	for _, c := range r.Cases {
		if !want[c.ID] {
			t.Errorf("unknown case %s reported", c.ID)
		}
		if c.Outcome != result.Pass {
			t.Errorf("%s: %s (%s), want pass; expected %v observed %v", c.ID, c.Outcome, c.Reason, c.Expected, c.Observed)
		}
		if c.Expected == nil || c.Observed == nil {
			t.Errorf("%s: expected and observed answers must both be recorded", c.ID)
		}
		if !strings.Contains(stdout, c.ID) {
			t.Errorf("the table on stdout lacks %s", c.ID)
		}
	}
	if r.Accel == "tcg" && !strings.Contains(stderr, "warning: KVM not usable") {
		t.Errorf("fell back to TCG without the one-line warning:\n%s", stderr)
	}
	if r.Guest["runner"] != "proxy" {
		t.Errorf("guest runner %q, want the default, proxy", r.Guest["runner"])
	}
	// Debian's kernel has PCI: the results take the shared memory.
	if wantShm(t) && !strings.HasPrefix(r.Guest["channel"], "ivshmem") {
		t.Errorf("result channel %q, want shared memory (ivshmem)", r.Guest["channel"])
	}
	for _, f := range []string{"result.json", "results.ktap", "stream.ktap", "junit.xml", "kcidb.json", "report.html", "summary.md", "console.log", "qemu-cmdline.sh"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("result directory lacks %s", f)
		}
	}
	if !strings.Contains(r.QEMU.Cmdline, "-no-reboot") || !strings.Contains(r.QEMU.Cmdline, "panic=-1") {
		t.Errorf("saved QEMU command line lacks -no-reboot or panic=-1: %s", r.QEMU.Cmdline)
	}
}

// TestRunFallbackChannels: results through the debug port (kernels
// without PCI, QEMUs without ivshmem) and through the UART (kernels
// without ioperm either) arrive as complete as through shared memory.
func TestRunFallbackChannels(t *testing.T) {
	needVMs(t)
	want, err := catalog.Select([]string{"clone3/**", "set_tid/nested/*"})
	if err != nil {
		t.Fatal(err)
	}
	real := qemuBin
	// A QEMU built without ivshmem, as some distributions ship it.
	noIvshmem := filepath.Join(t.TempDir(), "qemu-without-ivshmem")
	wrapper := "#!/bin/sh\n" +
		"case \"$*\" in *'-device help'*) \"" + real + "\" \"$@\" | grep -v ivshmem; exit;; esac\n" +
		"exec \"" + real + "\" \"$@\"\n"
	if err := os.WriteFile(noIvshmem, []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		args    []string
		channel string
	}{
		{"debugcon", []string{"--debug", "debugcon"}, "debugcon (port 0xe9)"},
		{"uart", []string{"--debug", "uart"}, "ttyS1"},
		{"qemu-without-ivshmem", []string{"--qemu", noIvshmem}, "debugcon (port 0xe9)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			args := append([]string{"run", "--kernel", kernel(t, "build"), "--case", "clone3/**", "--case", "set_tid/nested/*", "--out", out}, c.args...)
			code, stdout, stderr := vmtest(t, args...)
			if code != 0 {
				t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
			}
			r := loadResult(t, out)
			if r.Guest["channel"] != c.channel {
				t.Errorf("result channel %q, want %q", r.Guest["channel"], c.channel)
			}
			if len(r.Cases) != len(want) {
				t.Errorf("%d cases reported, want %d", len(r.Cases), len(want))
			}
			for _, c := range r.Cases {
				if c.Outcome != result.Pass || c.Expected == nil || c.Observed == nil {
					t.Errorf("%s: %s (%s), expected %v, observed %v: want a pass with both answers", c.ID, c.Outcome, c.Reason, c.Expected, c.Observed)
				}
			}
		})
	}
}

// TestRunBadAgentParameter: a kernel parameter the agent cannot parse is
// logged and ignored; the run goes on with the defaults.
func TestRunBadAgentParameter(t *testing.T) {
	needVMs(t)
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := vmtest(t, "run", "--kernel", kernel(t, "build"), "--append", "vmtest.jobs=many", "--case", "clone3/plain/ver0", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := loadResult(t, out)
	if len(r.Cases) != 1 || r.Cases[0].Outcome != result.Pass {
		t.Errorf("cases %+v, want clone3/plain/ver0 passing", r.Cases)
	}
	console, err := os.ReadFile(filepath.Join(out, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(console), "vmtest.jobs") {
		t.Errorf("the console does not show the agent's complaint about vmtest.jobs:\n%s", console)
	}
}

// TestRunExecRunner cross-checks the proxy runner: the same namespace and
// credential cases pass when every level is a re-execution of the agent.
func TestRunExecRunner(t *testing.T) {
	needVMs(t)
	k := debianKernel(t)
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := vmtest(t, "run", "--kernel", k, "--out", out, "--runner", "exec",
		"--case", "set_tid/userns/*", "--case", "set_tid/nested/*", "--case", "set_tid/threads/*")
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := loadResult(t, out)
	if r.Guest["runner"] != "exec" {
		t.Errorf("guest runner %q, want exec", r.Guest["runner"])
	}
	if len(r.Cases) < 40 {
		t.Errorf("%d cases ran, want the userns, nested and threads groups", len(r.Cases))
	}
	for _, c := range r.Cases {
		if c.Outcome != result.Pass {
			t.Errorf("%s: %s (%s)", c.ID, c.Outcome, c.Reason)
		}
	}
}

// TestRerunScript: qemu-cmdline.sh boots the same VM again without vmtest
// and leaves a complete, fresh KTAP stream in stream.ktap (through the
// debug port: the shared-memory channel needs vmtest to copy it).
func TestRerunScript(t *testing.T) {
	needVMs(t)
	out := filepath.Join(t.TempDir(), "run")
	if code, stdout, stderr := vmtest(t, "run", "--kernel", kernel(t, "build"), "--case", "clone3/plain/*", "--out", out); code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// The agent ends the VM through isa-debug-exit, whose 0 makes QEMU
	// exit with status 1.
	o, err := exec.CommandContext(ctx, "sh", filepath.Join(out, "qemu-cmdline.sh")).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("qemu-cmdline.sh: %v\n%s", err, o)
	}
	b, err := os.ReadFile(filepath.Join(out, "stream.ktap"))
	if err != nil {
		t.Fatal(err)
	}
	p := ktap.NewParser()
	for line := range strings.Lines(string(b)) {
		if _, err := p.Feed(line); err != nil {
			t.Errorf("re-run stream: %v", err)
		}
	}
	want, _ := catalog.Select([]string{"clone3/plain/*"})
	if strings.Count(string(b), "KTAP version") != 1 || !p.Done || len(p.Cases) != len(want) {
		t.Errorf("re-run stream.ktap: %d headers, done %v, %d cases (want 1, true, %d):\n%s", strings.Count(string(b), "KTAP version"), p.Done, len(p.Cases), len(want), b)
	}
	if !strings.HasPrefix(p.Info["channel"], "debugcon") {
		t.Errorf("re-run channel %q, want the debug port", p.Info["channel"])
	}
	for _, c := range p.Cases {
		if c.Outcome != result.Pass {
			t.Errorf("re-run %s: %s (%s)", c.ID, c.Outcome, c.Reason)
		}
	}
}

// TestRunStalledCase: a case stuck inside the kernel (here: its proxy
// sleeping for an hour) is that case's error, reported when its proxy call
// times out (half the case timeout) or at the latest at the case timeout,
// and every other case still runs and passes.
func TestRunStalledCase(t *testing.T) {
	needVMs(t)
	k := debianKernel(t)
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := vmtest(t, "run", "--kernel", k, "--out", out, "--debug", "stall", "--case-timeout", "3s", "--case", "set_tid/userns/*")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (a case errored)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := loadResult(t, out)
	if r.Status != run.Completed {
		t.Errorf("status %s: one stuck case must not stop the run", r.Status)
	}
	stalled := 0
	for _, c := range r.Cases {
		switch {
		case c.Outcome == result.Error && (strings.Contains(c.Reason, "did not answer") || strings.Contains(c.Reason, "timeout")):
			stalled++
		case c.Outcome != result.Pass:
			t.Errorf("%s: %s (%s)", c.ID, c.Outcome, c.Reason)
		}
	}
	if stalled != 1 {
		t.Errorf("%d cases timed out, want exactly the stalled one", stalled)
	}
}

// TestRunInfrastructureFailures: a guest that panics, one that hangs
// mid-run and one that never reports are infrastructure failures (exit 3),
// each classified as what it is, and the result directory is still
// written.
func TestRunInfrastructureFailures(t *testing.T) {
	needVMs(t)
	k := debianKernel(t)
	for _, tc := range []struct {
		debug  string
		flags  []string
		status run.Status
		// excerpt must appear in the crash excerpt ("" = no excerpt).
		excerpt string
	}{
		{"panic", nil, run.Crashed, "Kernel panic"},
		{"hang", []string{"--case-timeout", "3s"}, run.CaseTimeout, ""},
		{"silent", []string{"--boot-timeout", "12s"}, run.BootTimeout, ""},
	} {
		t.Run(tc.debug, func(t *testing.T) {
			t.Parallel()
			out := filepath.Join(t.TempDir(), "run")
			args := append([]string{"run", "--kernel", k, "--out", out, "--debug", tc.debug, "--case", "clone3/plain/*"}, tc.flags...)
			code, _, stderr := vmtest(t, args...)
			if code != 3 {
				t.Fatalf("exit %d, want 3\n%s", code, stderr)
			}
			r := loadResult(t, out)
			if r.Status != tc.status {
				t.Errorf("status %s (%s), want %s", r.Status, r.StatusDetail, tc.status)
			}
			if !strings.Contains(stderr, string(tc.status)) {
				t.Errorf("stderr does not name the classification %s:\n%s", tc.status, stderr)
			}
			if tc.excerpt != "" && !strings.Contains(r.Crash, tc.excerpt) {
				t.Errorf("crash excerpt lacks %q:\n%s", tc.excerpt, r.Crash)
			}
			for _, c := range r.Cases {
				if c.Outcome == result.Pass || c.Outcome == result.Fail {
					continue
				}
				if c.Outcome != result.Error {
					t.Errorf("%s: %s, want error for a case the run never finished", c.ID, c.Outcome)
				}
			}
		})
	}
}

// TestAccelKVMRefused: on a host where KVM does not really run guests (as
// on the development machine), --accel kvm fails at once with the reason,
// exit 2, and nothing booted.
func TestAccelKVMRefused(t *testing.T) {
	needVMs(t)
	if v := qemu.ProbeKVM(t.Context(), qemuBin, qemu.KVMDevice, qemu.HostKey{}, 0); v.Usable {
		t.Skip("KVM works here")
	}
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := vmtest(t, "run", "--kernel", debianKernel(t), "--accel", "kvm", "--out", out)
	if code != 2 || !strings.Contains(stderr, "KVM is not usable") {
		t.Errorf("exit %d, want 2 with the reason:\n%s", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("--accel kvm on an unusable KVM left a result directory")
	}
}

// TestCompareWithdrawnSetTID is issue 4's demonstration and issue 3's
// feature-absent check in one: the minimal 6.1 kernel from configs/ with
// set_tid withdrawn (base) against the same kernel as shipped (patched).
// On base every set_tid case must be unsupported and every other case
// pass; the verdicts must be newly-supported and unchanged-pass.
func TestCompareWithdrawnSetTID(t *testing.T) {
	needVMs(t)
	out := filepath.Join(t.TempDir(), "cmp")
	withdraw := repoFile(t, "kernels/0001-clone3-withdraw-set_tid.patch")
	code, stdout, stderr := vmtest(t, "compare", "--base", kernel(t, "build:patch="+withdraw), "--kernel", kernel(t, "build"), "--out", out)
	if code != 0 {
		t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	c := readComparison(t, out)
	if len(c.Cases) != len(catalog.All()) {
		t.Errorf("%d cases compared, want %d", len(c.Cases), len(catalog.All()))
	}
	if c.Base.Result.Guest["pid_max"] != "4096" && c.Base.Result.Guest["pid_max"] != "" {
		t.Logf("minimal kernel pid_max %s", c.Base.Result.Guest["pid_max"])
	}
	// Without ACPI the minimal kernel must still see both vCPUs (one
	// socket each), and its configs/ fragment has PCI for the
	// shared-memory results.
	for side, r := range map[string]*run.Result{"base": c.Base.Result, "patched": c.Patched.Result} {
		if (wantShm(t) && !strings.HasPrefix(r.Guest["channel"], "ivshmem")) || r.Guest["cpus"] != "2" {
			t.Errorf("%s: result channel %q on %s CPUs, want shared memory on 2", side, r.Guest["channel"], r.Guest["cpus"])
		}
	}
	for _, cs := range c.Cases {
		setTID := strings.HasPrefix(cs.ID, "set_tid/")
		wantBase, wantVerdict := result.Pass, "unchanged-pass"
		if setTID {
			wantBase, wantVerdict = result.Unsupported, "newly-supported"
		}
		if cs.Base != wantBase || cs.Patched != result.Pass || string(cs.Verdict) != wantVerdict {
			t.Errorf("%s: base %s patched %s verdict %s; want base %s patched pass verdict %s (base: %s; patched: %s)",
				cs.ID, cs.Base, cs.Patched, cs.Verdict, wantBase, wantVerdict, cs.BaseReason, cs.PatchedReason)
		}
		if setTID && !strings.Contains(cs.BaseReason, "E2BIG") {
			t.Errorf("%s: unsupported without naming the kernel's answer: %q", cs.ID, cs.BaseReason)
		}
	}
	if c.Base.Build == nil || len(c.Base.Build.Patches) != 1 || c.Patched.Build == nil || len(c.Patched.Build.Patches) != 0 {
		t.Errorf("comparison.json must carry both build manifests (base with the one patch)")
	}
	md, err := os.ReadFile(filepath.Join(out, "comparison.md"))
	if err != nil || !strings.Contains(string(md), "newly-supported") {
		t.Errorf("comparison.md missing or without the verdicts: %v", err)
	}
	// A base taken from the earlier result directory gives the same verdicts
	// without booting it again (CI caches the base run).
	out2 := filepath.Join(t.TempDir(), "cmp2")
	code, _, stderr = vmtest(t, "compare", "--base", filepath.Join(out, "base"), "--kernel", filepath.Join(out, "patched"), "--out", out2)
	if code != 0 {
		t.Fatalf("compare of two result directories: exit %d\n%s", code, stderr)
	}
	c2 := readComparison(t, out2)
	for i := range c2.Cases {
		if c2.Cases[i].Verdict != c.Cases[i].Verdict {
			t.Errorf("%s: verdict %s from result directories, %s from the runs", c2.Cases[i].ID, c2.Cases[i].Verdict, c.Cases[i].Verdict)
		}
	}
}

// TestCompareBrokenPermissionCheck: a kernel whose set_tid permission
// check looks at the caller's user namespace instead of the owner of each
// PID namespace level must be caught: exit 1, and exactly the cases that
// expect EPERM for a level owned by an ancestor user namespace regressed.
func TestCompareBrokenPermissionCheck(t *testing.T) {
	needVMs(t)
	out := filepath.Join(t.TempDir(), "cmp")
	broken := repoFile(t, "kernels/broken/pid-broken-set_tid-permission-check.patch")
	code, stdout, stderr := vmtest(t, "compare", "--base", kernel(t, "build"), "--kernel", kernel(t, "build:patch="+broken), "--out", out, "--case", "set_tid/userns/*")
	if code != 1 {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want := []string{
		"set_tid/userns/owner-ancestor-level-eperm",
		"set_tid/userns/owner-newpid-ancestor-eperm",
		"set_tid/userns/unowned-level-1-of-2",
		"set_tid/userns/owned-levels-1-and-2-not-0",
		// EPERM, not EEXIST, for a taken PID at an ancestor's level; a
		// child user namespace's CAP_CHECKPOINT_RESTORE does not reach
		// the parent's level; an unprivileged CLONE_NEWUSER|CLONE_NEWPID
		// may choose only the new level's PID.
		"set_tid/userns/ancestor-level-taken-eperm",
		"set_tid/userns/cap-checkpoint-restore-child-userns-not-ancestor",
		"set_tid/userns/unprivileged-newuser-newpid",
	}
	c := readComparison(t, out)
	if strings.Join(c.Regressions, " ") != strings.Join(want, " ") {
		t.Errorf("regressed %v, want %v", c.Regressions, want)
	}
	// The default --confirm 1 re-ran exactly the regressed cases on both
	// kernels, and they regressed again.
	if c.Confirm != 1 || len(c.Flaky) != 0 {
		t.Errorf("%d confirmation rounds, flaky %v; want 1 and none", c.Confirm, c.Flaky)
	}
	for _, cs := range c.Cases {
		if cs.Verdict == "regressed" && (len(cs.BaseReruns) != 1 || len(cs.PatchedReruns) != 1 || cs.PatchedReruns[0] != result.Fail) {
			t.Errorf("%s: re-runs base %v patched %v, want one each, failing on patched", cs.ID, cs.BaseReruns, cs.PatchedReruns)
		}
	}
	if r := loadResult(t, filepath.Join(out, "confirm-1", "patched")); len(r.Cases) != len(c.Regressions) {
		t.Errorf("the confirmation run on the patched kernel ran %d cases, want the %d regressed", len(r.Cases), len(c.Regressions))
	}
	for _, id := range want {
		if !strings.Contains(stderr, id) {
			t.Errorf("stderr does not name regressed case %s", id)
		}
	}
	for _, cs := range c.Cases {
		if cs.Verdict != "regressed" && cs.Verdict != "unchanged-pass" {
			t.Errorf("%s: verdict %s, want regressed or unchanged-pass", cs.ID, cs.Verdict)
		}
	}
}
