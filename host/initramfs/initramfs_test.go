package initramfs

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/u-root/u-root/pkg/cpio"

	"github.com/vmtest/vmtest/internal/testutils"
)

var time0 = time.Unix(1_000_000_000, 0)

// readArchive parses a newc archive into its records, in order, with each
// record's contents.
func readArchive(t *testing.T, b []byte) ([]cpio.Record, map[string][]byte) {
	t.Helper()
	recs, err := cpio.ReadAllRecords(cpio.Newc.Reader(bytes.NewReader(b)))
	if err != nil {
		t.Fatalf("read archive: %v", err)
	}
	data := map[string][]byte{}
	for _, r := range recs {
		c, err := io.ReadAll(io.NewSectionReader(r.ReaderAt, 0, int64(r.FileSize)))
		if err != nil {
			t.Fatalf("read %s: %v", r.Name, err)
		}
		data[r.Name] = c
	}
	return recs, data
}

func TestWrite(t *testing.T) {
	agentBytes := []byte("#!fake agent\x00\x01\x02 with some bytes")
	agent := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(agent, agentBytes, 0o700); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, agent); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("070701")) {
		t.Fatalf("archive starts with %q, want the newc magic", buf.Bytes()[:6])
	}
	if !bytes.Contains(buf.Bytes(), []byte(cpio.Trailer)) {
		t.Error("archive has no trailer")
	}
	recs, data := readArchive(t, buf.Bytes())

	type rec struct {
		mode           uint64
		rmajor, rminor uint64
	}
	want := map[string]rec{
		// WriteRecordsAndDirs adds "." as the parent of top-level
		// entries; its permissions are u-root's choice (checked below).
		".":           {mode: cpio.S_IFDIR},
		"dev":         {mode: cpio.S_IFDIR | 0o755},
		"dev/console": {mode: cpio.S_IFCHR | 0o600, rmajor: 5, rminor: 1},
		"dev/null":    {mode: cpio.S_IFCHR | 0o666, rmajor: 1, rminor: 3},
		"dev/port":    {mode: cpio.S_IFCHR | 0o640, rmajor: 1, rminor: 4},
		"dev/ttyS0":   {mode: cpio.S_IFCHR | 0o660, rmajor: 4, rminor: 64},
		"dev/ttyS1":   {mode: cpio.S_IFCHR | 0o660, rmajor: 4, rminor: 65},
		"proc":        {mode: cpio.S_IFDIR | 0o555},
		"rootproc":    {mode: cpio.S_IFDIR | 0o555},
		"sys":         {mode: cpio.S_IFDIR | 0o555},
		"tmp":         {mode: cpio.S_IFDIR | 0o1777},
		"etc":         {mode: cpio.S_IFDIR | 0o755},
		"etc/passwd":  {mode: cpio.S_IFREG | 0o644},
		"etc/group":   {mode: cpio.S_IFREG | 0o644},
		"init":        {mode: cpio.S_IFREG | 0o755},
	}
	seen := map[string]int{}
	for i, r := range recs {
		seen[r.Name] = i
		w, ok := want[r.Name]
		if !ok {
			t.Errorf("unexpected record %q", r.Name)
			continue
		}
		mode := r.Mode
		if r.Name == "." {
			mode &= cpio.S_IFMT
		}
		if mode != w.mode {
			t.Errorf("%s: mode %#o, want %#o", r.Name, r.Mode, w.mode)
		}
		if r.Rmajor != w.rmajor || r.Rminor != w.rminor {
			t.Errorf("%s: device %d:%d, want %d:%d", r.Name, r.Rmajor, r.Rminor, w.rmajor, w.rminor)
		}
		if r.UID != 0 || r.GID != 0 || r.MTime != 0 {
			t.Errorf("%s: uid %d gid %d mtime %d, want all 0 (reproducible)", r.Name, r.UID, r.GID, r.MTime)
		}
	}
	if len(seen) != len(want) || len(recs) != len(want) {
		t.Errorf("archive has %d records (%d distinct), want %d", len(recs), len(seen), len(want))
	}
	for name := range want {
		if _, ok := seen[name]; !ok {
			t.Errorf("record %q missing", name)
		}
	}
	// Parents before children, or the kernel drops the child.
	for _, child := range []string{"dev/console", "dev/null", "dev/port", "dev/ttyS0", "dev/ttyS1"} {
		if seen["dev"] > seen[child] {
			t.Errorf("dev comes after %s", child)
		}
	}
	for _, child := range []string{"etc/passwd", "etc/group"} {
		if seen["etc"] > seen[child] {
			t.Errorf("etc comes after %s", child)
		}
	}

	if got := data["init"]; !bytes.Equal(got, agentBytes) {
		t.Errorf("init = %q, want %q", got, agentBytes)
	}
	if got, want := string(data["etc/passwd"]), "root:x:0:0:root:/:/init\nnobody:x:65534:65534:nobody:/:/init\n"; got != want {
		t.Errorf("etc/passwd = %q, want %q", got, want)
	}
	if got, want := string(data["etc/group"]), "root:x:0:\nnogroup:x:65534:\n"; got != want {
		t.Errorf("etc/group = %q, want %q", got, want)
	}
	for _, name := range []string{"dev", "dev/console", "tmp", "."} {
		if len(data[name]) != 0 {
			t.Errorf("%s has %d bytes of content", name, len(data[name]))
		}
	}
}

func TestWriteReproducible(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	if err := os.WriteFile(agent, []byte("agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := Write(&a, agent); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(agent, time0, time0); err != nil {
		t.Fatal(err)
	}
	if err := Write(&b, agent); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two archives of the same agent differ")
	}
}

func TestWriteMissingAgent(t *testing.T) {
	var buf bytes.Buffer
	err := Write(&buf, filepath.Join(t.TempDir(), "missing"))
	if err == nil || !strings.HasPrefix(err.Error(), "open guest agent: ") {
		t.Errorf("Write = %v, want open guest agent error", err)
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %d bytes for a missing agent", buf.Len())
	}
}

// elfFile is testutils.ELF, a minimal ELF64 executable.
func elfFile(machine uint16, interp bool) []byte { return testutils.ELF(machine, interp) }

const (
	emX8664   = testutils.EMX8664
	emAArch64 = testutils.EMAArch64
)

func TestCheckStatic(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	static := write("static", elfFile(emX8664, false))
	dynamic := write("dynamic", elfFile(emX8664, true))
	arm := write("arm", elfFile(emAArch64, false))
	script := write("script", []byte("#!/bin/sh\nexit 0\n"))
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name string
		path string
		want string // "" = no error
	}{
		{"static x86-64", static, ""},
		{"dynamic", dynamic, "guest agent " + dynamic + " is dynamically linked and cannot be the guest's /init; build it with CGO_ENABLED=0 (make build does)"},
		{"arm64", arm, "guest agent " + arm + " is built for EM_AARCH64, the guest is x86-64"},
		{"shell script", script, "guest agent " + script + ": bad magic number"},
		{"missing", missing, "guest agent " + missing + ": open " + missing + ": no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckStatic(tt.path)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("CheckStatic = %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("CheckStatic = nil, want %q", tt.want)
			case tt.want != "" && !strings.HasPrefix(err.Error(), tt.want):
				t.Errorf("CheckStatic = %q, want %q", err, tt.want)
			}
		})
	}
}

func TestCheckStaticRealBinaries(t *testing.T) {
	t.Run("dynamic /bin/true", func(t *testing.T) {
		p, err := exec.LookPath("true")
		if err != nil {
			t.Skip("no true binary")
		}
		p, err = filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatal(err)
		}
		err = CheckStatic(p)
		if err == nil || !strings.Contains(err.Error(), "is dynamically linked and cannot be the guest's /init") {
			t.Errorf("CheckStatic(%s) = %v, want dynamically linked error", p, err)
		}
	})
	t.Run("static go build", func(t *testing.T) {
		p := staticGoBinary(t)
		if err := CheckStatic(p); err != nil {
			t.Errorf("CheckStatic(static Go binary) = %v", err)
		}
	})
}

var (
	goBinOnce sync.Once
	goBinDir  string
	goBinErr  error
)

// staticGoBinary builds a tiny CGO_ENABLED=0 program once per test run.
func staticGoBinary(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	goBinOnce.Do(func() {
		goBinDir, goBinErr = os.MkdirTemp("", "initramfs-test-")
		if goBinErr != nil {
			return
		}
		src := map[string]string{
			"go.mod":  "module tiny\n\ngo 1.21\n",
			"main.go": "package main\n\nfunc main() {}\n",
		}
		for name, s := range src {
			if goBinErr = os.WriteFile(filepath.Join(goBinDir, name), []byte(s), 0o644); goBinErr != nil {
				return
			}
		}
		cmd := exec.Command(goTool, "build", "-o", "agent", ".")
		cmd.Dir = goBinDir
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
		if out, err := cmd.CombinedOutput(); err != nil {
			goBinErr = &buildError{err: err, out: string(out)}
		}
	})
	if goBinErr != nil {
		t.Fatalf("build static binary: %v", goBinErr)
	}
	return filepath.Join(goBinDir, "agent")
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func TestMain(m *testing.M) {
	code := m.Run()
	if goBinDir != "" {
		os.RemoveAll(goBinDir)
	}
	os.Exit(code)
}

func TestCached(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache", "nested")
	agent := filepath.Join(dir, "agent")
	if err := os.WriteFile(agent, elfFile(emX8664, false), 0o755); err != nil {
		t.Fatal(err)
	}

	first, err := Cached(agent, cache)
	if err != nil {
		t.Fatalf("Cached: %v", err)
	}
	if filepath.Dir(first) != cache {
		t.Errorf("archive %s not in %s", first, cache)
	}
	base := filepath.Base(first)
	if !strings.HasPrefix(base, "initramfs-1-") || !strings.HasSuffix(base, ".cpio") || len(base) != len("initramfs-1-")+16+len(".cpio") {
		t.Errorf("archive name %q, want initramfs-1-<16 hex>.cpio", base)
	}
	b, err := os.ReadFile(first)
	if err != nil {
		t.Fatal(err)
	}
	var direct bytes.Buffer
	if err := Write(&direct, agent); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, direct.Bytes()) {
		t.Error("cached archive differs from Write's output")
	}

	// Mark the file so a rewrite would be visible.
	if err := os.Chtimes(first, time0, time0); err != nil {
		t.Fatal(err)
	}
	second, err := Cached(agent, cache)
	if err != nil {
		t.Fatalf("second Cached: %v", err)
	}
	if second != first {
		t.Errorf("second Cached = %s, want %s", second, first)
	}
	st, err := os.Stat(second)
	if err != nil {
		t.Fatal(err)
	}
	if !st.ModTime().Equal(time0) {
		t.Errorf("second Cached rewrote the archive (mtime %v)", st.ModTime())
	}

	// A changed agent gets its own archive; the old one stays.
	if err := os.WriteFile(agent, append(elfFile(emX8664, false), "changed"...), 0o755); err != nil {
		t.Fatal(err)
	}
	third, err := Cached(agent, cache)
	if err != nil {
		t.Fatalf("Cached after change: %v", err)
	}
	if third == first {
		t.Errorf("changed agent reused %s", first)
	}
	_, data := readArchive(t, mustRead(t, third))
	if !bytes.HasSuffix(data["init"], []byte("changed")) {
		t.Error("new archive does not hold the changed agent")
	}
	if _, err := os.Stat(first); err != nil {
		t.Errorf("old archive gone: %v", err)
	}

	// No temporary files are left behind.
	entries, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 2 {
		t.Errorf("cache holds %v, want the two archives only", names)
	}
}

func TestCachedRejectsDynamicAgent(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	agent := filepath.Join(dir, "agent")
	if err := os.WriteFile(agent, elfFile(emX8664, true), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := Cached(agent, cache)
	if err == nil || !strings.Contains(err.Error(), "is dynamically linked") {
		t.Errorf("Cached = %v, want dynamically linked error", err)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("cache dir created for a rejected agent: %v", err)
	}
}

func TestCachedRealStaticBinary(t *testing.T) {
	agent := staticGoBinary(t)
	cache := t.TempDir()
	p, err := Cached(agent, cache)
	if err != nil {
		t.Fatalf("Cached: %v", err)
	}
	want, err := os.ReadFile(agent)
	if err != nil {
		t.Fatal(err)
	}
	_, data := readArchive(t, mustRead(t, p))
	if !bytes.Equal(data["init"], want) {
		t.Errorf("init in archive (%d bytes) differs from the agent (%d bytes)", len(data["init"]), len(want))
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriteExtraFiles(t *testing.T) {
	dir := t.TempDir()
	agent := filepath.Join(dir, "agent")
	if err := os.WriteFile(agent, []byte("agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "selftests")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(sub, "clone3_set_tid")
	if err := os.WriteFile(extra, []byte("kselftest binary"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, agent, File{Path: extra}); err != nil {
		t.Fatalf("Write: %v", err)
	}
	recs, data := readArchive(t, buf.Bytes())
	modes := map[string]uint64{}
	order := map[string]int{}
	for i, r := range recs {
		modes[r.Name] = r.Mode
		order[r.Name] = i
	}
	name := execDir + "/clone3_set_tid"
	if modes[execDir] != cpio.S_IFDIR|0o755 {
		t.Errorf("%s mode %#o, want directory 0755", execDir, modes[execDir])
	}
	if modes[name] != cpio.S_IFREG|0o755 {
		t.Errorf("%s mode %#o, want regular 0755", name, modes[name])
	}
	if order[execDir] > order[name] {
		t.Errorf("%s written after %s", execDir, name)
	}
	if got := string(data[name]); got != "kselftest binary" {
		t.Errorf("%s = %q", name, got)
	}
	if got := string(data["init"]); got != "agent" {
		t.Errorf("init = %q", got)
	}

	// Without extras there is no exec directory.
	buf.Reset()
	if err := Write(&buf, agent); err != nil {
		t.Fatal(err)
	}
	_, data = readArchive(t, buf.Bytes())
	if _, ok := data[execDir]; ok {
		t.Errorf("%s present without extra files", execDir)
	}

	err := Write(&buf, agent, File{Path: filepath.Join(dir, "missing")})
	if err == nil || !strings.HasPrefix(err.Error(), "open guest file: ") {
		t.Errorf("Write(missing extra) = %v", err)
	}
}

func TestCachedExtraFiles(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "cache")
	agent := filepath.Join(dir, "agent")
	if err := os.WriteFile(agent, elfFile(emX8664, false), 0o755); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(dir, "test_a")
	if err := os.WriteFile(extra, append(elfFile(emX8664, false), 'a'), 0o755); err != nil {
		t.Fatal(err)
	}
	plain, err := Cached(agent, cache)
	if err != nil {
		t.Fatal(err)
	}
	withExtra, err := Cached(agent, cache, File{Path: extra})
	if err != nil {
		t.Fatal(err)
	}
	if withExtra == plain {
		t.Errorf("an extra file did not change the cache key (%s)", plain)
	}
	again, err := Cached(agent, cache, File{Path: extra})
	if err != nil || again != withExtra {
		t.Errorf("Cached again = %s, %v, want %s", again, err, withExtra)
	}
	_, data := readArchive(t, mustRead(t, withExtra))
	if !bytes.Equal(data[execDir+"/test_a"], mustRead(t, extra)) {
		t.Error("cached archive lacks the extra file")
	}

	// Same contents under another name is another archive.
	renamed := filepath.Join(dir, "test_b")
	if err := os.WriteFile(renamed, mustRead(t, extra), 0o755); err != nil {
		t.Fatal(err)
	}
	other, err := Cached(agent, cache, File{Path: renamed})
	if err != nil {
		t.Fatal(err)
	}
	if other == withExtra || other == plain {
		t.Errorf("renamed extra reused %s", other)
	}

	dynamic := filepath.Join(dir, "dyn")
	if err := os.WriteFile(dynamic, elfFile(emX8664, true), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Cached(agent, cache, File{Path: dynamic}); err == nil || !strings.Contains(err.Error(), dynamic+" is dynamically linked") {
		t.Errorf("Cached(dynamic extra) = %v", err)
	}
}
