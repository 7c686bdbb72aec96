package fileid

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRemember: a value is worked out once for an unchanged file, and
// again after every kind of change to it.
func TestRemember(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "kernel")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := Cache{Dir: filepath.Join(dir, "cache"), Settle: 5 * time.Millisecond}
	computed := 0
	// The value is what the file held when it was worked out.
	get := func() (string, bool) {
		t.Helper()
		v, hit, err := Remember(c, "contents/v1", path, func() (string, error) {
			computed++
			b, err := os.ReadFile(path)
			return string(b), err
		})
		if err != nil {
			t.Fatal(err)
		}
		return v, hit
	}
	settle := func() { time.Sleep(20 * time.Millisecond) }
	steps := []struct {
		name    string
		change  func()
		want    string
		hit     bool
		compute int // computations so far
	}{
		{"first look", func() { write("aaaa"); settle() }, "aaaa", false, 1},
		{"unchanged: a hit", func() {}, "aaaa", true, 1},
		{"unchanged again", func() {}, "aaaa", true, 1},
		{"same size rewritten, new mtime", func() {
			write("bbbb")
			os.Chtimes(path, time.Now(), time.Now().Add(-time.Hour))
			settle()
		}, "bbbb", false, 2},
		{"remembered anew", func() {}, "bbbb", true, 2},
		{"same size rewritten, mtime set back", func() {
			st, _ := os.Stat(path)
			write("cccc")
			os.Chtimes(path, st.ModTime(), st.ModTime()) // only the ctime tells
			settle()
		}, "cccc", false, 3},
		{"content and size changed", func() { write("dddddd"); settle() }, "dddddd", false, 4},
		{"replaced by another file", func() {
			tmp := path + ".new"
			os.WriteFile(tmp, []byte("eeeeee"), 0o644)
			os.Rename(tmp, path)
			settle()
		}, "eeeeee", false, 5},
		{"and remembered", func() {}, "eeeeee", true, 5},
	}
	for _, s := range steps {
		s.change()
		v, hit := get()
		if v != s.want || hit != s.hit || computed != s.compute {
			t.Fatalf("%s: got %q (hit %v, %d computations), want %q (hit %v, %d)", s.name, v, hit, computed, s.want, s.hit, s.compute)
		}
	}
	// Another kind is another value.
	if _, hit, _ := Remember(c, "contents/v2", path, func() (string, error) { return "x", nil }); hit {
		t.Error("a new kind hit the old kind's entry")
	}
}

// TestRememberNotYet: what is worked out from a file changed within the
// settle time, from a file that changes meanwhile, or with an error is
// not remembered; the zero Cache remembers nothing.
func TestRememberNotYet(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	os.WriteFile(path, []byte("a"), 0o644)
	time.Sleep(20 * time.Millisecond)
	for _, tt := range []struct {
		name    string
		c       Cache
		compute func() (int, error)
	}{
		{"changed too recently", Cache{Dir: filepath.Join(dir, "1"), Settle: time.Hour}, func() (int, error) { return 1, nil }},
		{"changed meanwhile", Cache{Dir: filepath.Join(dir, "2"), Settle: time.Millisecond}, func() (int, error) {
			return 1, os.WriteFile(path, []byte("b"), 0o644)
		}},
		{"an error", Cache{Dir: filepath.Join(dir, "3"), Settle: time.Millisecond}, func() (int, error) { return 0, errors.New("bad") }},
		{"no directory", Cache{Settle: time.Millisecond}, func() (int, error) { return 1, nil }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			time.Sleep(20 * time.Millisecond)
			n := 0
			for range 2 {
				_, hit, _ := Remember(tt.c, "k", path, func() (int, error) { n++; return tt.compute() })
				if hit {
					t.Fatal("remembered")
				}
			}
			if n != 2 {
				t.Errorf("computed %d times, want 2", n)
			}
		})
	}
	if _, _, err := Remember(Cache{Dir: dir}, "k", filepath.Join(dir, "missing"), func() (int, error) { return 0, os.ErrNotExist }); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v, want compute's error", err)
	}
}

// TestSHA256: the remembered hash is the file's.
func TestSHA256(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f")
	os.WriteFile(path, []byte("abc"), 0o644)
	time.Sleep(20 * time.Millisecond)
	c := Cache{Dir: dir, Settle: time.Millisecond}
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	for range 2 {
		if got, err := c.SHA256(path); got != abc || err != nil {
			t.Errorf("SHA256 = %s, %v", got, err)
		}
	}
	if _, err := c.SHA256(path + ".missing"); err == nil {
		t.Error("hashing a missing file succeeded")
	}
}

// TestOfAny: a directory has an identity, which Of refuses it, and it
// changes when an entry is renamed into it; a missing path has none.
func TestOfAny(t *testing.T) {
	dir := t.TempDir()
	if _, ok := Of(dir); ok {
		t.Error("Of gave a directory an identity")
	}
	before, ok := OfAny(dir)
	if !ok {
		t.Fatal("OfAny gave the directory no identity")
	}
	tmp := filepath.Join(t.TempDir(), "list")
	if err := os.WriteFile(tmp, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "list")); err != nil {
		t.Fatal(err)
	}
	// The rename's times may fall in the first stat's timestamp tick;
	// moving the modification time away keeps the test from hanging on it.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(dir, later, later); err != nil {
		t.Fatal(err)
	}
	if after, _ := OfAny(dir); after == before {
		t.Errorf("identity %+v unchanged after an entry was renamed in", after)
	}
	if _, ok := OfAny(filepath.Join(dir, "absent")); ok {
		t.Error("OfAny gave a missing path an identity")
	}
}
