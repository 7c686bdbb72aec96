package main

// Bad input: every flag's bad values are refused before anything is
// built, downloaded or booted, with exit 2 and one line naming the flag
// and the value. None of these tests boots a VM; the README's "Bad input"
// table lists the same inputs.

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/internal/testutils"
)

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	// A kernel every check accepts: a command that got past the flag
	// checks would try to boot it (and give up after --boot-timeout).
	img, err := testutils.WriteBzImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel, data string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	userFile := write("notes.txt", "the user's own file\n")
	otherDir := filepath.Dir(write("src/main.go", "package main\n"))
	earlier := filepath.Dir(write("earlier/result.json", `{"run_id":"r","status":"completed","cases":[]}`))
	corrupt := filepath.Dir(write("corrupt/result.json", `{"run_id": "r", "status": "comp`))
	noResult := filepath.Dir(write("noresult/console.log", ""))
	noDiff := write("notes.patch", "just notes, no diff\n")
	typo := write("typo.config", "CONFIG_PID_NS y\n")
	missing := filepath.Join(dir, "missing.patch")
	// Commands that would otherwise boot: bounded, in case a check breaks.
	runArgs := func(extra ...string) []string {
		return append([]string{"run", "--kernel", img, "--accel", "tcg", "--boot-timeout", "3s", "--out", filepath.Join(dir, "out", "run")}, extra...)
	}
	cmpArgs := func(extra ...string) []string {
		return append([]string{"compare", "--base", img, "--kernel", img, "--accel", "tcg", "--out", filepath.Join(dir, "out", "cmp")}, extra...)
	}
	for _, tc := range []struct {
		name string
		args []string
		// want: every string must appear in the one line.
		want []string
	}{
		// Durations: zero and negative are not defaults.
		{"negative case timeout", runArgs("--case-timeout", "-5s", "--case", "clone3/plain/ver0"), []string{`--case-timeout "-5s": must be positive`}},
		{"zero case timeout", runArgs("--case-timeout", "0"), []string{`--case-timeout "0": must be positive`}},
		{"zero boot timeout", runArgs("--boot-timeout", "0s"), []string{`--boot-timeout "0s": must be positive`}},
		{"negative run timeout", runArgs("--timeout", "-1m"), []string{`--timeout "-1m": must be positive`}},
		{"duration without unit", runArgs("--case-timeout", "30"), []string{`--case-timeout "30": not a duration`}},
		// Counts.
		{"run -j 0", []string{"run", "--kernel", "build", "-j", "0"}, []string{`-j "0": must be at least 1`}},
		{"compare -j 0", cmpArgs("-j", "0"), []string{`-j "0": must be at least 1`}},
		{"build -j 0", []string{"build", "-j", "0"}, []string{`-j "0": must be at least 1`}},
		{"build -j -2", []string{"build", "-j", "-2"}, []string{`-j "-2": must be at least 1`}},
		{"build -j x", []string{"build", "-j", "x"}, []string{`-j "x": not a whole number`}},
		{"repeat 0", runArgs("--repeat", "0"), []string{`--repeat "0": must be at least 1`}},
		{"confirm -1", cmpArgs("--confirm", "-1"), []string{`--confirm "-1": must be at least 0`}},
		// Unknown names.
		{"unknown accel", runArgs("--accel", "hvf"), []string{`--accel "hvf": want auto, kvm or tcg`}},
		{"compare unknown accel", cmpArgs("--accel", "xen"), []string{`--accel "xen"`}},
		{"unknown runner", runArgs("--runner", "fork"), []string{`--runner "fork": want proxy or exec`}},
		{"unknown debug", runArgs("--debug", "crash"), []string{`--debug "crash": want panic`}},
		{"unknown case", runArgs("--case", "no/such/*"), []string{`--case "no/such/*" matches no case`}},
		{"compare unknown case", cmpArgs("--case", "set_tid/nope"), []string{`--case "set_tid/nope" matches no case`}},
		{"bad case pattern", runArgs("--case", "[ab"), []string{`--case "[ab" is malformed`}},
		{"unknown flag", runArgs("--frobnicate"), []string{"--frobnicate: no such flag"}},
		{"flag without value", []string{"run", "--kernel"}, []string{"--kernel: needs a value"}},
		{"bad boolean", runArgs("--json=maybe"), []string{`--json "maybe"`}},
		{"stray argument", runArgs("bzImage"), []string{`unexpected argument "bzImage"`}},
		{"exec with case", runArgs("--exec", img, "--case", "clone3/**"), []string{"--exec: runs programs instead of the matrix and takes no case patterns"}},
		{"missing exec program", runArgs("--exec", filepath.Join(dir, "prog-nope")), []string{"--exec: guest program " + filepath.Join(dir, "prog-nope")}},
		{"missing QEMU", runArgs("--qemu", filepath.Join(dir, "qemu-nope")), []string{"qemu-nope"}},
		// Kernels.
		{"no kernel", []string{"run"}, []string{"--kernel: no kernel given: name a bzImage, debian or build"}},
		{"missing kernel", []string{"run", "--kernel", filepath.Join(dir, "nope")}, []string{"--kernel: " + filepath.Join(dir, "nope") + ": no such file"}},
		{"unknown spec key", []string{"run", "--kernel", "build:colour=red"}, []string{"--kernel", `unknown key "colour"`}},
		{"spec with missing patch", []string{"run", "--kernel", "build:patch=" + missing}, []string{"--kernel", missing}},
		{"spec with unknown fragment", []string{"run", "--kernel", "build:config=nosuch"}, []string{"--kernel build:config=nosuch: config nosuch: no such file"}},
		{"spec with a missing tree", []string{"run", "--kernel", "build:tree=" + filepath.Join(dir, "linux")}, []string{"--kernel build:tree=", "tree " + filepath.Join(dir, "linux") + ": is not a kernel source tree"}},
		{"cache is a file", []string{"run", "--kernel", img, "--cache", userFile}, []string{"--cache " + userFile + ": is a file"}},
		{"build cache is a file", []string{"build", "--cache", userFile}, []string{"--cache " + userFile + ": is a file"}},
		// --out.
		{"out is a file", runArgs("--out", userFile), []string{"--out " + userFile, "is an existing file"}},
		{"out is a file, forced", runArgs("--out", userFile, "--force"), []string{"--out " + userFile, "is an existing file"}},
		{"out below a file", runArgs("--out", filepath.Join(userFile, "run")), []string{"--out " + filepath.Join(userFile, "run"), "not a directory"}},
		{"out is another directory", runArgs("--out", otherDir), []string{"--out " + otherDir, "not a vmtest result"}},
		{"out is an earlier result", runArgs("--out", earlier), []string{"--out " + earlier + ": holds an earlier vmtest result", "replaced only when forced (pass --force)"}},
		{"compare out is a file", cmpArgs("--out", userFile), []string{"--out " + userFile, "is an existing file"}},
		{"compare out is an earlier result", cmpArgs("--out", earlier), []string{"--out " + earlier, "--force"}},
		// compare: both sides are checked before either is built or booted.
		{"compare without base", []string{"compare", "--kernel", img}, []string{"--base: no kernel given: name a bzImage, debian or build"}},
		{"compare corrupt base", []string{"compare", "--base", corrupt, "--kernel", "build"}, []string{"--base", corrupt + "/result.json is not a vmtest result"}},
		{"compare corrupt patched", cmpArgs("--kernel", corrupt), []string{"--kernel", corrupt + "/result.json is not a vmtest result"}},
		{"compare directory without result", cmpArgs("--base", noResult), []string{"--base " + noResult, "without result.json"}},
		{"compare debian base, missing patched", []string{"compare", "--base", "debian", "--kernel", filepath.Join(dir, "nope")}, []string{"--kernel: " + filepath.Join(dir, "nope") + ": no such file"}},
		{"compare bad spec", []string{"compare", "--base", "build:colour=red", "--kernel", "build"}, []string{"--base", `unknown key "colour"`}},
		// build: patches and fragments are read before the tree is unpacked.
		{"build missing patch", []string{"build", "--patch", missing}, []string{"--patch " + missing + ": no such file"}},
		{"build patch without diff", []string{"build", "--patch", noDiff}, []string{"--patch " + noDiff + ": message 1 contains no diff"}},
		{"build unknown fragment", []string{"build", "--config", "nosuch"}, []string{"--config nosuch", "no built-in fragment"}},
		{"build fragment typo", []string{"build", "--config", typo}, []string{typo + ":1: not a Kconfig assignment"}},
		{"build unknown base", []string{"build", "--base", "tinyconf"}, []string{`--base tinyconf: is neither`}},
		{"build not a tree", []string{"build", "--tree", dir}, []string{"--tree " + dir + ": is not a kernel source tree"}},
		{"matrix unknown case", []string{"matrix", "--case", "no/such"}, []string{`--case "no/such" matches no case`}},
		// Shards and their merge.
		{"shard beyond N", runArgs("--shard", "5/4"), []string{`--shard "5/4": want K/N with 1 ≤ K ≤ N`}},
		{"shard not K/N", runArgs("--shard", "2"), []string{`--shard "2": want K/N`}},
		{"empty shard", runArgs("--case", "clone3/plain/ver0", "--shard", "2/2"), []string{`--shard 2/2: is empty`}},
		{"bad kcidb origin", runArgs("--kcidb-origin", "My CI"), []string{`--kcidb-origin My CI:`, "lowercase"}},
		{"merge without shards", []string{"merge", "--out", filepath.Join(dir, "m")}, []string{`results: none given`}},
		{"merge without out", []string{"merge", dir}, []string{`--out: no output directory given`}},
		{"merge a non-result", []string{"merge", "--out", filepath.Join(dir, "m"), dir}, []string{"results " + dir + ": is not a vmtest result directory"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// An empty cache: a build or a download would show in it.
			cache := t.TempDir()
			args := tc.args
			if args[0] != "matrix" && args[0] != "merge" && !slices.Contains(args, "--cache") {
				args = append([]string{args[0], "--cache", cache}, args[1:]...)
			}
			start := time.Now()
			code, stdout, stderr := vmtest(t, args...)
			t.Log(strings.TrimSpace(stderr))
			if code != exitUsage {
				t.Fatalf("vmtest %q: exit %d, want 2\nstdout:\n%s\nstderr:\n%s", args, code, stdout, stderr)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 {
				t.Errorf("want one line on stderr, got %d:\n%s", len(lines), stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refusing took %s: something started before the check", d.Round(time.Millisecond))
			}
			if ents, _ := os.ReadDir(cache); len(ents) > 0 {
				t.Errorf("bad input left %s in the cache: something was built or downloaded", ents[0].Name())
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
				t.Error("bad input left a result directory")
			}
		})
	}
	if b, _ := os.ReadFile(userFile); string(b) != "the user's own file\n" {
		t.Error("the user's file named by --out was changed")
	}
	if _, err := os.Stat(filepath.Join(earlier, "result.json")); err != nil {
		t.Error("the earlier result named by --out was replaced without --force")
	}
}

// TestHelpExitsZero: -h prints the flags and is not an error.
func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"run", "build", "compare", "matrix", "doctor"} {
		code, _, stderr := vmtest(t, cmd, "-h")
		if code != 0 || !strings.Contains(stderr, "usage of vmtest "+cmd) {
			t.Errorf("vmtest %s -h: exit %d\n%s", cmd, code, stderr)
		}
	}
}

// TestRunBadKernel: every kind of wrong kernel is refused with exit 2, one
// line naming the file and what is wrong with it, and no result
// directory. The kernels are made from a synthetic bzImage.
func TestRunBadKernel(t *testing.T) {
	valid := testutils.DefaultBzImage().Bytes()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	corrupt := bytes.Clone(valid)
	corrupt[len(corrupt)-100] ^= 0xff // in the payload
	var gz bytes.Buffer
	gz.Write([]byte{0x1f, 0x8b, 0x08, 0x00})
	gz.Write(valid)
	arm := make([]byte, 4096)
	copy(arm[0x38:], "ARM\x64")
	elf := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 4096)...)
	random := make([]byte, 1<<16)
	for i := range random {
		random[i] = byte(i*7919 + i>>3)
	}
	for _, tc := range []struct {
		name, path, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "no such file"},
		{"directory", dir, "directory"},
		{"empty", write("empty", nil), "empty"},
		{"random", write("random", random), "not"},
		{"elf", write("vmlinux", elf), "ELF"},
		{"arm64", write("Image", arm), "arm64"},
		{"gzip", write("bzImage.gz", gz.Bytes()), "gzip"},
		{"truncated", write("truncated", valid[:len(valid)-512]), "truncated"},
		{"corrupted", write("corrupted", corrupt), "corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			code, _, stderr := vmtest(t, "run", "--kernel", tc.path, "--out", out, "--cache", t.TempDir())
			if code != exitUsage {
				t.Fatalf("exit %d, want 2\n%s", code, stderr)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 {
				t.Errorf("want one line of error, got %d:\n%s", len(lines), stderr)
			}
			if !strings.Contains(stderr, tc.path) {
				t.Errorf("error does not name the file %s: %s", tc.path, stderr)
			}
			if !strings.Contains(strings.ToLower(stderr), strings.ToLower(tc.want)) {
				t.Errorf("error does not say %q: %s", tc.want, stderr)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("bad input left a result directory")
			}
			if m, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*partial*")); len(m) > 0 {
				t.Errorf("bad input left a partial directory: %v", m)
			}
		})
	}
}

// TestUsageErrors: usage mistakes are exit 2 without booting.
func TestUsageErrors(t *testing.T) {
	cache := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "usage"},
		{[]string{"frobnicate"}, "unknown command"},
		{[]string{"run"}, "--kernel"},
		{[]string{"run", "--accel", "hvf", "--kernel", "/nonexistent"}, ""},
		{[]string{"matrix", "--case", "no/such/*"}, "matches no case"},
		{[]string{"compare", "--kernel", "/nonexistent"}, "base"},
		{[]string{"compare", "--base", "build:colour=red", "--kernel", "build"}, "unknown key"},
		{[]string{"build", "--tree", "/"}, "not a kernel source tree"},
		{[]string{"build", "--tree", "/", "--config", "nonexistent-fragment"}, "nonexistent-fragment"},
	} {
		args := tc.args
		if len(args) > 0 && args[0] != "matrix" && args[0] != "frobnicate" {
			args = append([]string{args[0], "--cache", cache}, args[1:]...)
		}
		code, _, stderr := vmtest(t, args...)
		if code != exitUsage {
			t.Errorf("vmtest %v: exit %d, want 2\n%s", tc.args, code, stderr)
		}
		if !strings.Contains(stderr, tc.want) {
			t.Errorf("vmtest %v: stderr lacks %q:\n%s", tc.args, tc.want, stderr)
		}
	}
	if ents, _ := os.ReadDir(cache); len(ents) > 0 {
		t.Errorf("usage errors left %s in the cache", ents[0].Name())
	}
}
