package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/run"
)

func loadRepeat(t *testing.T, dir string) *run.RepeatResult {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, run.RepeatFile))
	if err != nil {
		t.Fatal(err)
	}
	var rr run.RepeatResult
	if err := json.Unmarshal(data, &rr); err != nil {
		t.Fatal(err)
	}
	return &rr
}

// TestRunRepeat: --repeat 2 boots twice into one directory per boot and
// tallies every case in repeat.json.
func TestRunRepeat(t *testing.T) {
	needVMs(t)
	out := filepath.Join(t.TempDir(), "rep")
	code, stdout, stderr := vmtest(t, "run", "--kernel", kernel(t, "build"), "--accel", "tcg", "--repeat", "2", "--case", "clone3/plain/*", "--out", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	rr := loadRepeat(t, out)
	if rr.Status != run.Completed || len(rr.Runs) != 2 || len(rr.Cases) == 0 || len(rr.Flaky) != 0 {
		t.Errorf("status %s, %d boots, %d cases, flaky %v", rr.Status, len(rr.Runs), len(rr.Cases), rr.Flaky)
	}
	for _, c := range rr.Cases {
		if c.Passes != 2 || c.Runs != 2 || !strings.HasPrefix(c.ID, "clone3/plain/") {
			t.Errorf("%s: %d of %d passes", c.ID, c.Passes, c.Runs)
		}
	}
	for _, d := range []string{"1", "2"} {
		if r := loadResult(t, filepath.Join(out, d)); r.QEMU.Dir != filepath.Join(out, d) || len(r.Cases) != len(rr.Cases) {
			t.Errorf("boot %s: result.json names %s, %d cases", d, r.QEMU.Dir, len(r.Cases))
		}
	}
	if !strings.Contains(stdout, "passed every time, 0 flaky") {
		t.Errorf("no summary line:\n%s", stdout)
	}
}

// TestRunRepeatInterrupted: SIGINT during a repeated run is exit 130 with
// repeat.json and the boots that ran written.
func TestRunRepeatInterrupted(t *testing.T) {
	needVMs(t)
	out := filepath.Join(t.TempDir(), "rep")
	code, stderr, _ := interrupt(t, "run", "--kernel", kernel(t, "build"), "--accel", "tcg", "--repeat", "3", "--out", out)
	if code != exitInterrupted {
		t.Errorf("exit %d, want %d\n%s", code, exitInterrupted, stderr)
	}
	rr := loadRepeat(t, out)
	if len(rr.Runs) != 1 || rr.Runs[0].Status != run.Interrupted || rr.Status != run.Interrupted {
		t.Errorf("boots %+v, status %s; want one, interrupted", rr.Runs, rr.Status)
	}
	if _, err := os.Stat(filepath.Join(out, "1", "result.json")); err != nil {
		t.Errorf("the interrupted boot's result directory: %v", err)
	}
}
