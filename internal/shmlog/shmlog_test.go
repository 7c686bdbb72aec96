package shmlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// region creates a region file of size bytes and maps it shared, as QEMU
// does for the guest.
func region(t *testing.T, size int64) (path string, mem []byte) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "results.shm")
	if err := Create(path, size); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mem, err = unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	return path, mem
}

// ends makes a region of size bytes and returns both of its ends: the
// guest's writer and the host's reader.
func ends(t *testing.T, size int64) (*Writer, *Reader) {
	t.Helper()
	path, mem := region(t, size)
	w, err := NewWriter(mem)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return w, r
}

func TestWriteThenRead(t *testing.T) {
	w, r := ends(t, 4096)
	for _, step := range []struct {
		write []string
		want  string
	}{
		{nil, ""},
		{[]string{"KTAP version 1\n"}, "KTAP version 1\n"},
		{nil, ""},
		{[]string{"1..2\n", "ok 1 a\n"}, "1..2\nok 1 a\n"},
		{[]string{"", "ok 2 b\n"}, "ok 2 b\n"},
	} {
		for _, s := range step.write {
			if n, err := w.Write([]byte(s)); err != nil || n != len(s) {
				t.Fatalf("Write(%q) = %d, %v", s, n, err)
			}
		}
		got, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != step.want {
			t.Errorf("after writing %q: Next = %q, want %q", step.write, got, step.want)
		}
	}
}

func TestFull(t *testing.T) {
	path, mem := region(t, HeaderSize+10)
	w, err := NewWriter(mem)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		write string
		ok    bool
	}{
		{"123456", true},
		{"78901", false}, // one byte too many: nothing of it is written
		{"7890", true},   // exactly fills the region
		{"x", false},
	} {
		n, err := w.Write([]byte(c.write))
		if c.ok != (err == nil) || (err != nil && (!errors.Is(err, ErrFull) || n != 0)) {
			t.Errorf("Write(%q) = %d, %v; want ok=%v, or ErrFull with nothing written", c.write, n, err, c.ok)
		}
	}
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := r.Next(); err != nil || string(got) != "1234567890" {
		t.Errorf("Next = %q, %v; want the two writes that fit", got, err)
	}
}

// TestWriterResumes: a second writer (an agent started again on the same
// region) appends after what the first wrote instead of overwriting it.
func TestWriterResumes(t *testing.T) {
	path, mem := region(t, 4096)
	for _, s := range []string{"first\n", "second\n"} {
		w, err := NewWriter(mem)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(s))
	}
	r, _ := Open(path)
	defer r.Close()
	if got, _ := r.Next(); string(got) != "first\nsecond\n" {
		t.Errorf("Next = %q", got)
	}
}

func TestNewWriterRefuses(t *testing.T) {
	good := func() []byte {
		m := make([]byte, 4096)
		copy(m, Magic)
		return m
	}
	for _, c := range []struct {
		name string
		mem  []byte
		want string
	}{
		{"too small", good()[:HeaderSize], "too small"},
		{"no magic", make([]byte, 4096), "not made by the vmtest host"},
		{"wrong version", func() []byte { m := good(); m[len(Magic)-1] = '9'; return m }(), "not made by the vmtest host"},
		{"impossible length", func() []byte {
			m := good()
			binary.LittleEndian.PutUint64(m[lengthOffset:], 4096)
			return m
		}(), "claims 4096 bytes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewWriter(c.mem)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("NewWriter: %v, want an error containing %q", err, c.want)
			}
		})
	}
}

func TestReaderRefusesImpossibleLength(t *testing.T) {
	path, mem := region(t, 4096)
	binary.LittleEndian.PutUint64(mem[lengthOffset:], 1<<40)
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(); err == nil || !strings.Contains(err.Error(), "impossible") {
		t.Errorf("Next: %v, want an impossible-length error", err)
	}
}

func TestCreateRefuses(t *testing.T) {
	dir := t.TempDir()
	exists := filepath.Join(dir, "exists")
	os.WriteFile(exists, []byte("keep me"), 0o600)
	for _, c := range []struct {
		name string
		path string
		size int64
	}{
		{"existing file", exists, 4096},
		{"no room for the stream", filepath.Join(dir, "small"), HeaderSize},
		{"missing directory", filepath.Join(dir, "no", "such"), 4096},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := Create(c.path, c.size); err == nil {
				t.Errorf("Create(%s, %d) succeeded", c.path, c.size)
			}
		})
	}
	if b, _ := os.ReadFile(exists); string(b) != "keep me" {
		t.Errorf("Create overwrote an existing file: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "small")); !os.IsNotExist(err) {
		t.Errorf("a failed Create left its file behind")
	}
}

// TestConcurrentReader: a reader polling while the writer appends only
// ever sees whole writes, in order, never the zeros of memory the length
// does not cover yet.
func TestConcurrentReader(t *testing.T) {
	w, r := ends(t, 1<<20)
	var want bytes.Buffer
	for i := range 5000 {
		fmt.Fprintf(&want, "# record %d\n", i)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for line := range strings.Lines(want.String()) {
			if _, err := w.Write([]byte(line)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var got bytes.Buffer
	deadline := time.Now().Add(20 * time.Second)
	for got.Len() < want.Len() {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d bytes in 20s", got.Len(), want.Len())
		}
		b, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.IndexByte(b, 0) >= 0 {
			t.Fatalf("read a zero byte: data not yet written was published")
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("read a partial write: %q", b)
		}
		got.Write(b)
	}
	wg.Wait()
	if got.String() != want.String() {
		t.Errorf("read %d bytes, want %d; streams differ", got.Len(), want.Len())
	}
}
