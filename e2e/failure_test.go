package e2e

import (
	"bufio"
	"bytes"
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
	"github.com/vmtest/vmtest/internal/ktap"
	"github.com/vmtest/vmtest/internal/result"
)

// kvmThatHangs writes a QEMU wrapper that stands in for a host whose KVM
// passes the probe and then hangs real guests (as KVM did on a fresh
// machine of the development kind): the probe firmware (-bios) runs, under
// TCG, to its end; a kernel started under KVM is started paused (-S), so
// it never shows a sign of life. Everything really runs under TCG.
func kvmThatHangs(t *testing.T) string {
	t.Helper()
	real := qemuBin
	p := filepath.Join(t.TempDir(), "qemu-system-x86_64")
	sh := `#!/bin/bash
args=(); probe=; kvm=
for a; do
	case "$a" in
	-bios) probe=1 ;;
	pc,accel=kvm|microvm,accel=kvm*) kvm=1; a=${a/accel=kvm/accel=tcg} ;;
	host) a=max ;;
	esac
	args+=("$a")
done
[ -n "$kvm" ] && [ -z "$probe" ] && args+=(-S)
exec ` + real + ` "${args[@]}"
`
	if err := os.WriteFile(p, []byte(sh), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunKVMFallback: under --accel auto, a guest that shows no sign of
// life under KVM is stopped after run.KVMLifeWindow and run again under
// TCG; result.json says so, the console shows one warning line, and the
// verdict is cached, so that the next --accel kvm is refused at once.
func TestRunKVMFallback(t *testing.T) {
	needVMs(t)
	if f, err := os.OpenFile(qemu.KVMDevice, os.O_RDWR, 0); err != nil {
		t.Skipf("the probe needs %s to open: %v", qemu.KVMDevice, err)
	} else {
		f.Close()
	}
	k := debianKernel(t)
	bin := kvmThatHangs(t)
	cache := t.TempDir()
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := vmtest(t, "run", "--kernel", k, "--qemu", bin, "--cache", cache, "--out", out, "--case", "clone3/plain/*")
	if code != 0 {
		t.Fatalf("exit %d, want 0\n%s", code, stderr)
	}
	r := loadResult(t, out)
	if r.Accel != "tcg" || r.AccelFallback == nil || r.AccelFallback.From != "kvm" ||
		!strings.Contains(r.AccelFallback.Reason, "no sign of life within 10s under KVM") {
		t.Errorf("accel %q, fallback %+v: want tcg after kvm showed no sign of life", r.Accel, r.AccelFallback)
	}
	if n := strings.Count(stderr, "warning: KVM dropped"); n != 1 {
		t.Errorf("%d 'KVM dropped' warnings, want one:\n%s", n, stderr)
	}
	if r.Status != run.Completed || r.Summary[result.Pass] != len(r.Cases) {
		t.Errorf("status %s, summary %v", r.Status, r.Summary)
	}
	verdicts, _ := filepath.Glob(filepath.Join(cache, "accel", "kvm-*.json"))
	if len(verdicts) != 1 {
		t.Fatalf("cached verdicts %v, want one", verdicts)
	}
	if b, _ := os.ReadFile(verdicts[0]); !bytes.Contains(b, []byte(`"how": "run"`)) || !bytes.Contains(b, []byte(`"usable": false`)) {
		t.Errorf("cached verdict:\n%s", b)
	}

	start := time.Now()
	out2 := filepath.Join(t.TempDir(), "run")
	code, _, stderr = vmtest(t, "run", "--kernel", k, "--qemu", bin, "--cache", cache, "--out", out2, "--accel", "kvm")
	if code != 2 || !strings.Contains(stderr, "no sign of life within 10s under KVM") {
		t.Errorf("--accel kvm after a recorded hang: exit %d, want 2 with the reason:\n%s", code, stderr)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("--accel kvm took %s to refuse: the cached verdict must answer at once", d)
	}
	if _, err := os.Stat(out2); err == nil {
		t.Error("a refused --accel kvm left a result directory")
	}
}

// TestRunInterrupted: SIGINT mid-run is status interrupted and exit 130,
// QEMU is gone within a second, and the result directory is whole, with
// the cases that ran and the rest as not run, in result.json and in
// stream.ktap.
func TestRunInterrupted(t *testing.T) {
	needVMs(t)
	k := debianKernel(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "run")
	// --debug hang: the agent hangs once it is up, so the signal lands
	// mid-run whatever the machine's speed.
	cmd, _ := command(t, "run", "--kernel", k, "--out", out, "--accel", "tcg",
		"--debug", "hang", "--case", "clone3/plain/*")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "guest agent up") {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	signalled := time.Now()
	go func() {
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
		}
	}()
	err = cmd.Wait()
	took := time.Since(signalled)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130\n%s", err, log.String())
	}
	if took > 3*time.Second {
		t.Errorf("vmtest took %s to stop after SIGINT", took)
	}
	if left := qemuUnder(dir); len(left) > 0 {
		t.Errorf("QEMU still running after vmtest exited: pids %v", left)
	}
	r := loadResult(t, out)
	if r.Status != run.Interrupted {
		t.Errorf("status %s (%s), want interrupted", r.Status, r.StatusDetail)
	}
	for _, c := range r.Cases {
		if c.Outcome != result.Pass && c.Reason != "not run: interrupted" {
			t.Errorf("%s: %s (%s), want pass or not run: interrupted", c.ID, c.Outcome, c.Reason)
		}
	}
	if n := ktapCases(t, out); n != len(r.Cases) {
		t.Errorf("stream.ktap lists %d cases, result.json %d", n, len(r.Cases))
	}
}

// TestRunCrashReport: after a panic, stream.ktap lists every case (the
// ones the guest never reached as not ok, not run: crashed), result.json
// has a one-line title, and the excerpt holds kernel lines only.
func TestRunCrashReport(t *testing.T) {
	needVMs(t)
	k := debianKernel(t)
	out := filepath.Join(t.TempDir(), "run")
	code, _, stderr := vmtest(t, "run", "--kernel", k, "--out", out, "--accel", "tcg", "--debug", "panic", "--case", "clone3/plain/*")
	if code != 3 {
		t.Fatalf("exit %d, want 3\n%s", code, stderr)
	}
	r := loadResult(t, out)
	if r.Status != run.Crashed || !strings.HasPrefix(r.CrashTitle, "Kernel panic - not syncing: ") || strings.Contains(r.CrashTitle, "\n") {
		t.Errorf("status %s, title %q", r.Status, r.CrashTitle)
	}
	if strings.ContainsAny(r.Crash, "\x1b\r") || strings.Contains(r.Crash, "SeaBIOS") || strings.Contains(r.Crash, "EDD") {
		t.Errorf("crash excerpt holds firmware output:\n%q", r.Crash)
	}
	if n := ktapCases(t, out); n != len(r.Cases) || n == 0 {
		t.Errorf("stream.ktap lists %d cases, result.json %d", n, len(r.Cases))
	}
	ktapText, _ := os.ReadFile(filepath.Join(out, "stream.ktap"))
	if !bytes.Contains(ktapText, []byte("# ERROR not run: crashed")) {
		t.Errorf("stream.ktap has no 'not run: crashed' line:\n%s", ktapText)
	}
}

// ktapCases counts the test lines in a result directory's stream.ktap.
func ktapCases(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "stream.ktap"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if _, ok := ktap.TestLineID(l); ok {
			n++
		}
	}
	return n
}

// qemuUnder lists QEMU processes whose working directory is below dir.
func qemuUnder(dir string) []string {
	var pids []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cwd, err := os.Readlink(filepath.Join(p, "cwd"))
		if err != nil || !strings.HasPrefix(cwd, dir) {
			continue
		}
		if exe, _ := os.Readlink(filepath.Join(p, "exe")); strings.Contains(exe, "qemu") {
			pids = append(pids, filepath.Base(p))
		}
	}
	return pids
}

// TestRunSurvivableWarning: on a kernel that WARNs (and goes on) whenever
// set_tid_size is 3, the cases that passed such an array are errors with
// the report's title, the run still completes, result.json carries the
// title, and cases that never pass three entries still pass.
func TestRunSurvivableWarning(t *testing.T) {
	needVMs(t)
	patch := repoFile(t, "kernels/testing/warn-on-set_tid-size-3.patch")
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := vmtest(t, "run", "--kernel", kernel(t, "build:patch="+patch), "--out", out, "--case", "set_tid/nested/*", "--case", "set_tid/pid/*")
	if code != 1 {
		t.Fatalf("exit %d, want 1 (cases errored)\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	r := loadResult(t, out)
	const title = "WARNING: at kernel/fork.c:2953 copy_clone_args_from_user"
	if r.Status != run.Completed || r.CrashTitle != title {
		t.Errorf("status %s, title %q: want completed with %q", r.Status, r.CrashTitle, title)
	}
	charged, passed := 0, 0
	for _, c := range r.Cases {
		switch {
		case c.Outcome == result.Error && strings.Contains(c.Reason, "the kernel reported "+title):
			charged++
		case c.Outcome == result.Pass:
			passed++
		default:
			t.Errorf("%s: %s (%s)", c.ID, c.Outcome, c.Reason)
		}
		// No set_tid/pid case passes three entries: one charged with the
		// WARNING can only have ended while a nested case ran beside it,
		// and must say so.
		if strings.HasPrefix(c.ID, "set_tid/pid/") && c.Outcome != result.Pass && !strings.Contains(c.Reason, "(beside it ran set_tid/nested/") {
			t.Errorf("%s was charged with a WARNING it cannot have caused: %s", c.ID, c.Reason)
		}
	}
	if charged == 0 || passed == 0 {
		t.Errorf("%d cases charged with the WARNING and %d passed; want some of each", charged, passed)
	}
}
