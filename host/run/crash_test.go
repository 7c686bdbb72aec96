package run

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/internal/ktap"
	"github.com/vmtest/vmtest/internal/result"
)

// seabios is what SeaBIOS and QEMU's option ROM leave on the console
// before the kernel: escape sequences and firmware lines.
const seabios = "\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)\r\n\r\n\r\niPXE (https://ipxe.org) 00:03.0 CA00 PCI2.10 PnP PMM+1FF8B4A0+1FECB4A0 CA00\r\nBooting from ROM...\r\nProbing EDD (edd=off to disable)... o\x1b[0m\x1b[2J"

func TestFindCrash(t *testing.T) {
	tests := []struct {
		name    string
		console string
		title   string // "" = no crash
		fatal   bool
		first   string // the excerpt's first line
	}{
		{"clean", seabios + "[    0.000000] Linux version 6.1.0\n[    0.5] Run /init as init process\n", "", false, ""},
		{"panic", seabios + "[    0.000000] Linux version 6.1.0\r\n[    3.100000] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\r\n[    3.2] CPU: 0 PID: 1 Comm: init\r\n",
			"Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100", true, "[    0.000000] Linux version 6.1.0"},
		{"oops then panic: the oops is the title", "[    1.0] BUG: kernel NULL pointer dereference, address: 0000000000000000\n[    1.0] #PF: supervisor read access in kernel mode\n[    1.1] Oops: 0000 [#1] PREEMPT SMP NOPTI\n[    1.2] Kernel panic - not syncing: Fatal exception\n",
			"BUG: kernel NULL pointer dereference, address: 0000000000000000", true, "[    1.0] BUG: kernel NULL pointer dereference, address: 0000000000000000"},
		{"general protection fault", "[    2.0] general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP\n",
			"general protection fault, probably for non-canonical address 0xdead000000000100: 0000 [#1] SMP", true, ""},
		{"kernel BUG at", "[    2.0] kernel BUG at kernel/pid.c:245!\n[    2.0] invalid opcode: 0000 [#1] SMP\n", "BUG: at kernel/pid.c:245!", true, ""},
		{"a WARNING the kernel survives", seabios + "[    0.000000] Linux version 6.1.0\n[    4.0] ------------[ cut here ]------------\n[    4.0] WARNING: CPU: 1 PID: 87 at kernel/pid.c:229 alloc_pid+0x3a/0x3b0\n[    4.0] Modules linked in:\n",
			"WARNING: at kernel/pid.c:229 alloc_pid", false, "[    0.000000] Linux version 6.1.0"},
		{"a WARNING that panics (panic_on_warn)", "[    4.0] WARNING: CPU: 0 PID: 1 at kernel/fork.c:2001 copy_process+0x10/0x20\n[    4.1] Kernel panic - not syncing: panic_on_warn set ...\n",
			"WARNING: at kernel/fork.c:2001 copy_process", true, ""},
		{"sleeping function BUG is survivable", "[    5.0] BUG: sleeping function called from invalid context at mm/slab.h:723\n",
			"BUG: sleeping function called from invalid context at mm/slab.h:723", false, ""},
		{"no timestamps (minimal kernel)", seabios + "Kernel panic - not syncing: VFS: Unable to mount root fs\n",
			"Kernel panic - not syncing: VFS: Unable to mount root fs", true, "Kernel panic - not syncing: VFS: Unable to mount root fs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := findCrash(tt.console)
			if tt.title == "" {
				if c != nil {
					t.Fatalf("crash %q found in a clean console", c.Title)
				}
				return
			}
			if c == nil {
				t.Fatalf("no crash found, want %q", tt.title)
			}
			if c.Title != tt.title || c.Fatal != tt.fatal {
				t.Errorf("title %q fatal %v, want %q %v", c.Title, c.Fatal, tt.title, tt.fatal)
			}
			if strings.ContainsAny(c.Excerpt, "\x1b\r") || strings.Contains(c.Excerpt, "SeaBIOS") || strings.Contains(c.Excerpt, "Probing EDD") {
				t.Errorf("excerpt holds firmware output:\n%q", c.Excerpt)
			}
			if first, _, _ := strings.Cut(c.Excerpt, "\n"); tt.first != "" && first != tt.first {
				t.Errorf("excerpt starts %q, want %q", first, tt.first)
			}
		})
	}
}

// TestCrashExcerptWindow: five lines before the report and the trace after.
func TestCrashExcerptWindow(t *testing.T) {
	var console []string
	for i := range 80 {
		console = append(console, "[    1.0] line "+string(rune('A'+i%26)))
	}
	console[20] = "[    3.1] Kernel panic - not syncing: Attempted to kill init!"
	c := findCrash(strings.Join(console, "\r\n"))
	if c == nil {
		t.Fatal("no crash found")
	}
	lines := strings.Split(c.Excerpt, "\n")
	if len(lines) != 45 || lines[5] != console[20] || lines[0] != console[15] {
		t.Errorf("excerpt is not 5 lines before and 39 after the panic:\n%s", strings.Join(lines, "\n"))
	}
}

// TestCompleteKTAP: after a crash, every case is in results.ktap, as a
// KTAP reader expects: the ones that ran, then the rest as not run.
func TestCompleteKTAP(t *testing.T) {
	cases := []result.Case{
		{ID: "a/one", Outcome: result.Pass},
		{ID: "a/two", Outcome: result.Error, Reason: "not run: crashed"},
		{ID: "a/three", Outcome: result.Error, Reason: "not run: crashed"},
	}
	tests := []struct {
		name, stream, want string
	}{
		{"crashed mid-way", "KTAP version 1\n1..3\n# vmtest-case {}\nok 1 a/one\n# vmtest-ca",
			"KTAP version 1\n1..3\n# vmtest-case {}\nok 1 a/one\n# vmtest-ca\nnot ok 2 a/two # ERROR not run: crashed\nnot ok 3 a/three # ERROR not run: crashed\n"},
		{"never started", "",
			"KTAP version 1\n1..3\nnot ok 1 a/one\nnot ok 2 a/two # ERROR not run: crashed\nnot ok 3 a/three # ERROR not run: crashed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "results.ktap")
			if tt.stream != "" {
				if err := os.WriteFile(p, []byte(tt.stream), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cs := cases
			if tt.stream == "" {
				cs = []result.Case{{ID: "a/one", Outcome: result.Fail}, cases[1], cases[2]}
			}
			if err := completeKTAP(p, cs); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if string(got) != tt.want {
				t.Errorf("results.ktap:\n%s\nwant:\n%s", got, tt.want)
			}
			// And our own parser reads all three cases back.
			parser := ktap.NewParser()
			for _, l := range strings.SplitAfter(string(got), "\n") {
				parser.Feed(l)
			}
			if len(parser.Cases) != 3 {
				t.Errorf("parser read %d cases back", len(parser.Cases))
			}
		})
	}
}

// TestCompleteKTAPKunit: the kernel's own KTAP reader (kunit.py's parser,
// from the 6.1 source tree vmtest builds from) reads a completed stream.
func TestCompleteKTAPKunit(t *testing.T) {
	matches, _ := filepath.Glob(filepath.Join(DefaultCacheDir(), "src", "*", "tools", "testing", "kunit", "kunit.py"))
	py, err := exec.LookPath("python3")
	if len(matches) == 0 || err != nil {
		t.Skip("no kunit.py in the cached kernel source (vmtest build unpacks it) or no python3")
	}
	p := filepath.Join(t.TempDir(), "results.ktap")
	os.WriteFile(p, []byte("KTAP version 1\n1..3\nok 1 a_one\n"), 0o644)
	if err := completeKTAP(p, []result.Case{{ID: "a_one", Outcome: result.Pass},
		{ID: "a_two", Outcome: result.Error, Reason: "not run: crashed"}, {ID: "a_three", Outcome: result.Error, Reason: "not run: crashed"}}); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, matches[0], "parse", p).CombinedOutput()
	s := string(out)
	if !strings.Contains(s, "[PASSED] a_one") || !strings.Contains(s, "[FAILED] a_two") || !strings.Contains(s, "[FAILED] a_three") {
		t.Errorf("kunit.py parse (%v):\n%s", err, s)
	}
}
