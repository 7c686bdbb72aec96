package run

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/vmtest/vmtest/internal/inputerr"
)

func TestCheckOut(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel string, files ...string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(p, f), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return p
	}
	file := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(file, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		out   string
		force bool
		want  string // "" for accepted
	}{
		{"default", "", false, ""},
		{"new", filepath.Join(dir, "new"), false, ""},
		{"new below new", filepath.Join(dir, "a", "b", "c"), false, ""},
		{"empty directory", mk("empty"), false, ""},
		{"regular file", file, false, "is an existing file"},
		{"regular file, forced", file, true, "is an existing file"},
		{"below a file", filepath.Join(file, "run"), false, "not a directory"},
		{"deep below a file", filepath.Join(file, "a", "run"), false, "not a directory"},
		{"other directory", mk("src", "main.go"), false, "is a directory that is not a vmtest result"},
		{"other directory, forced", mk("src2", "main.go"), true, "is a directory that is not a vmtest result"},
		{"earlier run", mk("run", "result.json", "console.log"), false, "holds an earlier vmtest result"},
		{"earlier run, forced", mk("run2", "result.json"), true, ""},
		{"earlier repeat, forced", mk("rep", RepeatFile), true, ""},
		{"earlier comparison", mk("cmp", "comparison.json"), false, "holds an earlier vmtest result"},
		{"earlier comparison, forced", mk("cmp2", "comparison.json"), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckOut(tc.out, tc.force)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, inputerr.ErrBadInput) || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "out "+tc.out+": ") {
				t.Errorf("error %v, want bad input naming out %s and saying %q", err, tc.out, tc.want)
			}
			if earlier := strings.Contains(tc.want, "earlier"); errors.Is(err, ErrEarlierResult) != earlier {
				t.Errorf("error %v: matches ErrEarlierResult %v, want %v (the CLI's hint to force)", err, !earlier, earlier)
			}
		})
	}
	if b, _ := os.ReadFile(file); string(b) != "mine" {
		t.Error("CheckOut touched the user's file")
	}
}

// TestMkdirTempUmask: result directories get the user's umask, not
// os.MkdirTemp's 0700.
func TestMkdirTempUmask(t *testing.T) {
	old := syscall.Umask(0o22)
	defer syscall.Umask(old)
	for _, tc := range []struct {
		umask int
		want  os.FileMode
	}{{0o22, 0o755}, {0o27, 0o750}, {0o77, 0o700}, {0o2, 0o775}} {
		syscall.Umask(tc.umask)
		if got := readUmask(); got != os.FileMode(tc.umask) {
			t.Errorf("readUmask = %o, want %o", got, tc.umask)
		}
		d, err := MkdirTemp(t.TempDir(), "x-")
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.want {
			t.Errorf("umask %03o: mode %o, want %o", tc.umask, fi.Mode().Perm(), tc.want)
		}
		// Stage, where every run's result directory starts, too.
		s, err := Stage(filepath.Join(t.TempDir(), "out"))
		if err != nil {
			t.Fatal(err)
		}
		if fi, _ := os.Stat(s); fi.Mode().Perm() != tc.want {
			t.Errorf("umask %03o: stage directory mode %o, want %o", tc.umask, fi.Mode().Perm(), tc.want)
		}
	}
}

// TestCommit: a staged directory replaces out whether or not an earlier
// result is there, and nothing of the earlier one or the stage is left.
func TestCommit(t *testing.T) {
	for _, earlier := range []bool{false, true} {
		dir := t.TempDir()
		out := filepath.Join(dir, "a", "out")
		if earlier {
			if err := os.MkdirAll(out, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(out, "result.json"), []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		stage, err := Stage(out)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Dir(stage) != filepath.Dir(out) || !strings.HasPrefix(filepath.Base(stage), ".out.partial-") {
			t.Errorf("stage %s: want a hidden .out.partial-* beside %s", stage, out)
		}
		if err := os.WriteFile(filepath.Join(stage, "result.json"), []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Commit(stage, out); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(filepath.Join(out, "result.json")); string(b) != "new" {
			t.Errorf("earlier %v: out holds %q, want the staged result", earlier, b)
		}
		if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
			t.Errorf("earlier %v: %d entries beside out, want out alone", earlier, len(ents))
		}
	}
}

// TestDefaultOut: an unnamed result directory is results/KIND-YYYYMMDD-HHMMSS.
func TestDefaultOut(t *testing.T) {
	for _, kind := range []string{"compare", "mutate", "bisect", "series"} {
		if got := DefaultOut(kind); !regexp.MustCompile(`^results/` + kind + `-\d{8}-\d{6}$`).MatchString(got) {
			t.Errorf("DefaultOut(%q) = %q", kind, got)
		}
	}
}

// TestStaging: Discard removes a stage nobody committed, and leaves a
// committed one where Commit put it.
func TestStaging(t *testing.T) {
	for _, commit := range []bool{false, true} {
		dir := t.TempDir()
		out := filepath.Join(dir, "out")
		s, err := NewStaging(out)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.Dir, "result.json"), []byte("new"), 0o644); err != nil {
			t.Fatal(err)
		}
		if commit {
			if err := s.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		s.Discard()
		ents, _ := os.ReadDir(dir)
		_, outErr := os.Stat(filepath.Join(out, "result.json"))
		if commit && (outErr != nil || len(ents) != 1) {
			t.Errorf("committed: out's result %v, %d entries beside it; want out alone", outErr, len(ents))
		}
		if !commit && len(ents) != 0 {
			t.Errorf("not committed: %d entries left, want none", len(ents))
		}
	}
}
