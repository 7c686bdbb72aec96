package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/catalog"
)

// slowTree is a kernel tree whose bzImage target starts a compiler
// stand-in in the background, records its PID and waits.
func slowTree(t *testing.T) string {
	t.Helper()
	tree := filepath.Join(t.TempDir(), "linux")
	for name, data := range map[string]string{
		"Makefile": "VERSION = 6\nPATCHLEVEL = 1\nSUBLEVEL = 99\nEXTRAVERSION =\n\n" +
			"tinyconfig:\n\tprintf 'CONFIG_A=y\\n' > $(O)/.config\n\n" +
			"olddefconfig:\n\ttrue\n\n" +
			"bzImage:\n\tsh -c 'echo $$$$ > $(O)/child.pid; exec sleep 300' & sleep 300\n",
		"kernel/fork.c": "// fork.c\n",
	} {
		p := filepath.Join(tree, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return tree
}

func processGone(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return true
	}
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(st), ") ")
	return strings.HasPrefix(rest, "Z")
}

// TestBuildInterruptedCLI: SIGINT or SIGTERM to `vmtest build` exits 130,
// make's children are gone within a second, and no cache entry is left.
func TestBuildInterruptedCLI(t *testing.T) {
	needBinary(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			cache := t.TempDir()
			cmd, _ := command(t, "build", "--tree", slowTree(t), "--cache", cache)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			var child int
			for deadline := time.Now().Add(60 * time.Second); child == 0; time.Sleep(20 * time.Millisecond) {
				if m, _ := filepath.Glob(filepath.Join(cache, "build", "tree-*", "src", ".vmtest-obj", "child.pid")); len(m) == 1 {
					if b, err := os.ReadFile(m[0]); err == nil && strings.HasSuffix(string(b), "\n") {
						child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
					}
				}
				if time.Now().After(deadline) {
					t.Fatalf("make never started the compiler stand-in\n%s", stderr.String())
				}
			}
			start := time.Now()
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var err error
			select {
			case err = <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("vmtest build still runs 5s after %s", sig)
			}
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != exitInterrupted {
				t.Errorf("exit %v, want %d\n%s", err, exitInterrupted, stderr.String())
			}
			if !strings.Contains(stderr.String(), "interrupted") {
				t.Errorf("stderr does not say interrupted:\n%s", stderr.String())
			}
			for !processGone(child) {
				if time.Since(start) > time.Second {
					t.Fatalf("make's child %d still runs %s after %s", child, time.Since(start), sig)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if m, _ := filepath.Glob(filepath.Join(cache, "build", "kernel-*")); len(m) > 0 {
				t.Errorf("an interrupted build left cache entries: %v", m)
			}
		})
	}
}

// mentioning returns the live processes whose command line contains s
// (QEMU's names the run's directory).
func mentioning(s string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.Contains(string(b), s) && !processGone(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// interrupt starts vmtest, sends SIGINT once stderr shows the first case
// result, and returns the exit status, stderr and how long vmtest took to
// exit after the signal.
func interrupt(t *testing.T, args ...string) (int, string, time.Duration) {
	t.Helper()
	cmd, _ := command(t, args...)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	defer cmd.Process.Kill()
	var stderr bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(stderr.String(), "[1/") {
		n, err := pr.Read(buf)
		stderr.Write(buf[:n])
		if err != nil {
			t.Fatalf("vmtest ended before its first case:\n%s", stderr.String())
		}
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := pr.Read(b)
			stderr.Write(b[:n])
			if err != nil {
				break
			}
		}
		done <- cmd.Wait()
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("vmtest still runs 10s after SIGINT:\n%s", stderr.String())
	}
	took := time.Since(start)
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String(), took
}

// TestCompareInterrupted: SIGINT during a comparison's runs is exit 130
// with the comparison written, both sides holding the cases that ran.
func TestCompareInterrupted(t *testing.T) {
	needVMs(t)
	debianKernel(t) // cached, or skip: "debian" is a download otherwise
	out := filepath.Join(t.TempDir(), "cmp")
	code, stderr, took := interrupt(t, "compare", "--base", "debian", "--kernel", "debian", "--accel", "tcg", "--out", out)
	if code != exitInterrupted {
		t.Errorf("exit %d, want %d\n%s", code, exitInterrupted, stderr)
	}
	if took > 3*time.Second {
		t.Errorf("vmtest took %s to exit after SIGINT", took)
	}
	if left := mentioning(filepath.Dir(out)); len(left) > 0 {
		t.Errorf("QEMU still runs after vmtest exited: %v", left)
	}
	c := readComparison(t, out)
	if c.Base.Result == nil || c.Patched.Result == nil || len(c.Cases) != len(catalog.All()) {
		t.Fatalf("comparison.json incomplete: %d cases", len(c.Cases))
	}
	for side, r := range map[string]*run.Result{"base": c.Base.Result, "patched": c.Patched.Result} {
		if r.Status != run.Interrupted && r.Status != run.Completed {
			t.Errorf("%s: status %s, want interrupted (or completed, had it finished)", side, r.Status)
		}
		if _, err := os.Stat(filepath.Join(out, side, "result.json")); err != nil {
			t.Errorf("%s result directory missing: %v", side, err)
		}
	}
}
