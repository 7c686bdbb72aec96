package run

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/shmlog"
)

// guestView maps the region as QEMU does and returns the writer the
// guest agent would use.
func guestView(t *testing.T, dir string) *shmlog.Writer {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, qemu.ResultsShm), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem, err := unix.Mmap(int(f.Fd()), 0, qemu.ResultsShmSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
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

func readResults(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, qemu.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestShmPump: what the guest writes reaches the results file while the
// VM runs; what it writes just before the end (a panic right after a
// result) is copied by stop; the region does not outlive the run; a
// port channel's bytes in the same file are kept.
func TestShmPump(t *testing.T) {
	dir := t.TempDir()
	p, err := startShmPump(dir)
	if err != nil {
		t.Fatal(err)
	}
	w := guestView(t, dir)
	w.Write([]byte("KTAP version 1\n1..2\n"))
	deadline := time.Now().Add(5 * time.Second)
	for readResults(t, dir) != "KTAP version 1\n1..2\n" {
		if time.Now().After(deadline) {
			t.Fatalf("the pump did not copy within 5s: %q", readResults(t, dir))
		}
		time.Sleep(time.Millisecond)
	}
	w.Write([]byte("ok 1 a\n"))
	p.flush()
	if got := readResults(t, dir); !strings.HasSuffix(got, "ok 1 a\n") {
		t.Errorf("after flush: %q", got)
	}
	w.Write([]byte("ok 2 b\n# vmtest-done\n"))
	if err := p.stop(); err != nil {
		t.Fatal(err)
	}
	if got, want := readResults(t, dir), "KTAP version 1\n1..2\nok 1 a\nok 2 b\n# vmtest-done\n"; got != want {
		t.Errorf("results file %q, want %q", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, qemu.ResultsShm)); !os.IsNotExist(err) {
		t.Errorf("the region outlived the run: %v", err)
	}
}

// TestShmPumpBadRegion: a region whose header stops making sense (a guest
// scribbling over it) is reported by stop, and nothing bogus is copied.
func TestShmPumpBadRegion(t *testing.T) {
	dir := t.TempDir()
	p, err := startShmPump(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dir, qemu.ResultsShm), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 16) // the stream's length
	f.Close()
	err = p.stop()
	if err == nil || !strings.Contains(err.Error(), "impossible") {
		t.Errorf("stop: %v, want the impossible length reported", err)
	}
	if got := readResults(t, dir); got != "" {
		t.Errorf("results file %q, want nothing", got)
	}
}

// TestShmPumpRefusesLeftover: a region already in the directory is not
// reused (a stale one could hold another run's results).
func TestShmPumpRefusesLeftover(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, qemu.ResultsShm), []byte("stale"), 0o600)
	if _, err := startShmPump(dir); err == nil {
		t.Fatal("startShmPump reused a leftover region")
	}
}
