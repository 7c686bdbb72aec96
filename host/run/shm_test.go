package run

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/shmlog"
)

// guestView maps the region as QEMU does and returns the writer the
// guest agent would use.
func guestView(t *testing.T, path string) *shmlog.Writer {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem, err := unix.Mmap(int(f.Fd()), 0, contract.ResultsShmSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	w, err := shmlog.NewWriter(mem)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestShmPump: what the guest writes reaches the results file while the
// VM runs; what it writes just before the end (a panic right after a
// result) is copied by stop; bytes QEMU appends to the same file (a
// fallback channel) are kept; the region does not outlive the run.
func TestShmPump(t *testing.T) {
	results := filepath.Join(t.TempDir(), qemu.ResultsFile)
	p, err := startShmPump(results)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(p.path, filepath.Dir(results)) {
		t.Errorf("region %s is in the result directory", p.path)
	}
	w := guestView(t, p.path)
	w.Write([]byte("KTAP version 1\n1..2\n"))
	deadline := time.Now().Add(5 * time.Second)
	for readFile(t, results) != "KTAP version 1\n1..2\n" {
		if time.Now().After(deadline) {
			t.Fatalf("the pump did not copy within 5s: %q", readFile(t, results))
		}
		time.Sleep(time.Millisecond)
	}
	// QEMU's chardev, opened with append=on.
	port, err := os.OpenFile(results, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	port.Write([]byte("# from the port\n"))
	port.Close()
	w.Write([]byte("ok 1 a\n"))
	p.flush()
	if got := readFile(t, results); got != "KTAP version 1\n1..2\n# from the port\nok 1 a\n" {
		t.Errorf("after flush: %q", got)
	}
	w.Write([]byte("ok 2 b\n# vmtest-done\n"))
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, results), "KTAP version 1\n1..2\n# from the port\nok 1 a\nok 2 b\n# vmtest-done\n"; got != want {
		t.Errorf("results file %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Dir(p.path)); !os.IsNotExist(err) {
		t.Errorf("the region's directory outlived the run: %v", err)
	}
	if err := p.stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
}

// TestShmPumpBadRegion: a region whose length stops making sense (a guest
// writing over the header) is reported by stop, and nothing is copied.
func TestShmPumpBadRegion(t *testing.T) {
	results := filepath.Join(t.TempDir(), qemu.ResultsFile)
	p, err := startShmPump(results)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(p.path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 16) // the stream's length
	f.Close()
	err = p.stop()
	if err == nil || !strings.Contains(err.Error(), "impossible") {
		t.Errorf("stop: %v, want the impossible length reported", err)
	}
	if got := readFile(t, results); got != "" {
		t.Errorf("results file %q, want nothing", got)
	}
}

// TestShmPumpNoResultsDir: a results file that cannot be opened fails the
// start and leaves no region behind.
func TestShmPumpNoResultsDir(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	if _, err := startShmPump(filepath.Join(tmp, "gone", qemu.ResultsFile)); err == nil {
		t.Fatal("startShmPump succeeded without a result directory")
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}
