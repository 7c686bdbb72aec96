package qemu

import (
	"context"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

func TestNewDefaults(t *testing.T) {
	c := New("bzImage", "initramfs.cpio")
	want := Config{Binary: "qemu-system-x86_64", Kernel: "bzImage", Initramfs: "initramfs.cpio", Accel: TCG, MemoryMB: 512, CPUs: 2}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("New = %+v, want %+v", c, want)
	}
}

func TestArgsDefault(t *testing.T) {
	got := New("bzImage", "initramfs.cpio", WithResultsShm("/tmp/vmtest-shm-1/results.shm")).Args()
	want := []string{
		"qemu-system-x86_64",
		"-nodefaults", "-no-user-config", "-nographic",
		"-machine", "pc,accel=tcg",
		"-cpu", "max,-erms",
		"-smp", "2,sockets=2,cores=1,threads=1",
		"-m", "512",
		"-kernel", "bzImage",
		"-initrd", "initramfs.cpio",
		"-append", "console=ttyS0,115200 panic=-1 oops=panic rdinit=/init cryptomgr.notests tsc=reliable quiet",
		"-no-reboot",
		"-chardev", "file,id=console,path=console.log",
		"-serial", "chardev:console",
		"-chardev", "file,id=results,path=stream.ktap,mux=on,append=on",
		"-serial", "chardev:results",
		"-device", "isa-debugcon,iobase=0xe9,chardev=results",
		"-qmp", "unix:qmp.sock,server=on,wait=off",
		"-monitor", "none",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
		"-device", "pvpanic",
		"-object", "memory-backend-file,id=results-mem,size=16777216,mem-path=/tmp/vmtest-shm-1/results.shm,share=on",
		"-device", "ivshmem-plain,memdev=results-mem",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Args =\n%q\nwant\n%q", got, want)
	}
}

// flag returns the values following every occurrence of name in argv.
func flag(argv []string, name string) []string {
	var vals []string
	for i := 1; i < len(argv)-1; i++ {
		if argv[i] == name {
			vals = append(vals, argv[i+1])
		}
	}
	return vals
}

func TestArgsOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		binary  string
		machine string
		cpu     string
		smp     string
		mem     string
		cmdline string
		shm     string // the shared-memory result region, "" for none
	}{
		{
			name:    "defaults",
			binary:  "qemu-system-x86_64",
			machine: "pc,accel=tcg", cpu: "max,-erms", smp: "2,sockets=2,cores=1,threads=1", mem: "512",
			cmdline: "console=ttyS0,115200 panic=-1 oops=panic rdinit=/init cryptomgr.notests tsc=reliable quiet",
		},
		{
			name:    "kvm",
			opts:    []Option{WithAccel(KVM)},
			binary:  "qemu-system-x86_64",
			machine: "pc,accel=kvm", cpu: "host", smp: "2,sockets=2,cores=1,threads=1", mem: "512",
			// KVM's clocks need no help.
			cmdline: "console=ttyS0,115200 panic=-1 oops=panic rdinit=/init cryptomgr.notests quiet",
		},
		{
			name: "everything",
			opts: []Option{
				WithBinary("/opt/qemu/bin/qemu-system-x86_64"), WithAccel(TCG), WithMemory(2048), WithCPUs(4),
				WithVerboseConsole(true), WithAppend("loglevel=8"), WithAppend("a=b", "c"), WithResultsShm("/run/r.shm"),
			},
			shm:     "/run/r.shm",
			binary:  "/opt/qemu/bin/qemu-system-x86_64",
			machine: "pc,accel=tcg", cpu: "max,-erms", smp: "4,sockets=4,cores=1,threads=1", mem: "2048",
			cmdline: "console=ttyS0,115200 panic=-1 oops=panic rdinit=/init cryptomgr.notests tsc=reliable loglevel=8 a=b c",
		},
		{
			name:    "verbose off again, append with quiet",
			opts:    []Option{WithVerboseConsole(true), WithVerboseConsole(false), WithAppend("x")},
			binary:  "qemu-system-x86_64",
			machine: "pc,accel=tcg", cpu: "max,-erms", smp: "2,sockets=2,cores=1,threads=1", mem: "512",
			cmdline: "console=ttyS0,115200 panic=-1 oops=panic rdinit=/init cryptomgr.notests tsc=reliable quiet x",
		},
		{
			name:    "shared memory",
			opts:    []Option{WithResultsShm("/tmp/d/results.shm")},
			binary:  "qemu-system-x86_64",
			machine: "pc,accel=tcg", cpu: "max,-erms", smp: "2,sockets=2,cores=1,threads=1", mem: "512",
			cmdline: "console=ttyS0,115200 panic=-1 oops=panic rdinit=/init cryptomgr.notests tsc=reliable quiet",
			shm:     "/tmp/d/results.shm",
		},
		{
			name:    "last option wins",
			opts:    []Option{WithCPUs(1), WithCPUs(8), WithMemory(64), WithAccel(KVM), WithAccel(TCG), WithResultsShm("x"), WithResultsShm("")},
			binary:  "qemu-system-x86_64",
			machine: "pc,accel=tcg", cpu: "max,-erms", smp: "8,sockets=8,cores=1,threads=1", mem: "64",
			cmdline: "console=ttyS0,115200 panic=-1 oops=panic rdinit=/init cryptomgr.notests tsc=reliable quiet",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New("k", "i", tt.opts...)
			argv := c.Args()
			if argv[0] != tt.binary {
				t.Errorf("argv[0] = %q, want %q", argv[0], tt.binary)
			}
			check := func(name string, want ...string) {
				t.Helper()
				if got := flag(argv, name); !slices.Equal(got, want) {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
			check("-machine", tt.machine)
			check("-cpu", tt.cpu)
			check("-smp", tt.smp)
			check("-m", tt.mem)
			check("-kernel", "k")
			check("-initrd", "i")
			check("-append", tt.cmdline)
			// The console must be the first serial port (ttyS0), the
			// results the second (ttyS1).
			check("-serial", "chardev:console", "chardev:results")
			check("-qmp", "unix:qmp.sock,server=on,wait=off")
			// Results reach the same file through the UART or the debug
			// port, whichever the guest can use, or through shared memory
			// the host copies from.
			devices := []string{"isa-debugcon,iobase=0xe9,chardev=results", "isa-debug-exit,iobase=0xf4,iosize=0x04", "pvpanic"}
			if tt.shm == "" {
				check("-chardev", "file,id=console,path=console.log", "file,id=results,path=stream.ktap,mux=on")
				check("-object")
			} else {
				check("-chardev", "file,id=console,path=console.log", "file,id=results,path=stream.ktap,mux=on,append=on")
				devices = append(devices, "ivshmem-plain,memdev=results-mem")
				check("-object", "memory-backend-file,id=results-mem,size=16777216,mem-path="+tt.shm+",share=on")
			}
			check("-device", devices...)
			for _, f := range []string{"-no-reboot", "-nodefaults", "-nographic", "-no-user-config"} {
				if !slices.Contains(argv, f) {
					t.Errorf("argv lacks %s", f)
				}
			}
			if got := c.KernelCmdline(); got != tt.cmdline {
				t.Errorf("KernelCmdline = %q, want %q", got, tt.cmdline)
			}
		})
	}
}

func TestWithAppendDoesNotAlias(t *testing.T) {
	base := []Option{WithAppend("a")}
	c1 := New("k", "i", append(base, WithAppend("b"))...)
	c2 := New("k", "i", append(base, WithAppend("c"))...)
	if !slices.Equal(c1.Append, []string{"a", "b"}) || !slices.Equal(c2.Append, []string{"a", "c"}) {
		t.Errorf("Append = %q and %q, want [a b] and [a c]", c1.Append, c2.Append)
	}
}

func TestCPUModel(t *testing.T) {
	tests := []struct {
		a    Accel
		want string
	}{
		{KVM, "host"},
		{TCG, "max,-erms"},
		{"", "max,-erms"},
	}
	for _, tt := range tests {
		if got := CPUModel(tt.a); got != tt.want {
			t.Errorf("CPUModel(%q) = %q, want %q", tt.a, got, tt.want)
		}
	}
}

func TestShellLine(t *testing.T) {
	tests := []struct {
		argv []string
		want string
	}{
		{[]string{"qemu", "-m", "512"}, "qemu -m 512"},
		{[]string{""}, "''"},
		{[]string{"a b"}, "'a b'"},
		{[]string{"it's"}, `'it'\''s'`},
		{[]string{"-append", "console=ttyS0,115200 panic=-1"}, "-append 'console=ttyS0,115200 panic=-1'"},
		{[]string{"unix:qmp.sock,server=on,wait=off", "a@b%c+d"}, "unix:qmp.sock,server=on,wait=off a@b%c+d"},
		{[]string{"$HOME"}, "'$HOME'"},
	}
	for _, tt := range tests {
		if got := ShellLine(tt.argv); got != tt.want {
			t.Errorf("ShellLine(%q) = %s, want %s", tt.argv, got, tt.want)
		}
	}
}

// viaShell runs `printf '%s\0' <line>` in sh and returns the words sh saw.
func viaShell(t *testing.T, line string) []string {
	t.Helper()
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	out, err := exec.Command(sh, "-c", `printf '%s\0' `+line).Output()
	if err != nil {
		t.Fatalf("sh -c %q: %v", line, err)
	}
	words := strings.Split(string(out), "\x00")
	return words[:len(words)-1]
}

func TestShellLineRoundTrip(t *testing.T) {
	tests := [][]string{
		{"plain", "-m", "512"},
		{"with space", "two  spaces", " lead", "trail "},
		{`"double"`, "it's", `mixed "a" 'b'`, "'", "''", `\`, `back\slash`},
		{"$HOME", "${PATH}", "`id`", "$(id)", "!", "*", "?", "[a]", "~", "#", "a;b", "a&b", "a|b", "<x>", "(x)", "{x}"},
		{"", "tab\there", "new\nline", "ü", "a=b c"},
		New("/path with space/bzImage", "it's.cpio", WithAppend("x='1 2'", `y="3"`)).Args(),
	}
	for _, argv := range tests {
		line := ShellLine(argv)
		got := viaShell(t, line)
		if !slices.Equal(got, argv) {
			t.Errorf("sh -c %s\n saw %q\nwant %q", line, got, argv)
		}
	}
}

// script writes an executable shell script standing in for QEMU.
func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fake-qemu")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestShutdownReason(t *testing.T) {
	tests := []struct {
		e    qmp.Event
		want string
	}{
		{qmp.Event{Event: "SHUTDOWN", Data: map[string]any{"guest": true, "reason": "guest-reset"}}, "guest-reset"},
		{qmp.Event{Event: "SHUTDOWN", Data: map[string]any{"reason": 3}}, ""},
		{qmp.Event{Event: "SHUTDOWN"}, ""},
	}
	for _, tt := range tests {
		if got := ShutdownReason(tt.e); got != tt.want {
			t.Errorf("ShutdownReason(%v) = %q, want %q", tt.e.Data, got, tt.want)
		}
	}
}

func TestFind(t *testing.T) {
	_, err := Find(filepath.Join(t.TempDir(), "no-such-qemu"))
	if !errors.Is(err, ErrQEMUMissing) || !strings.Contains(err.Error(), "apt-get install qemu-system-x86") {
		t.Errorf("Find(missing) = %v", err)
	}
	if p, err := exec.LookPath("qemu-system-x86_64"); err == nil {
		got, err := Find("")
		if err != nil || got != p {
			t.Errorf("Find(\"\") = %q, %v, want %q", got, err, p)
		}
	}
}

func TestStartFailures(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "no-such-qemu")
	_, err := Start(context.Background(), New("k", "i", WithBinary(missing)), dir)
	if err == nil || !strings.HasPrefix(err.Error(), "start "+missing+": ") {
		t.Errorf("Start(missing binary) = %v", err)
	}

	bin := script(t, "echo 'qemu: could not open kernel file' >&2; exit 1")
	_, err = Start(context.Background(), New("k", "i", WithBinary(bin)), dir)
	want := "QEMU exited before QMP was ready (exit status 1): qemu: could not open kernel file"
	if err == nil || err.Error() != want {
		t.Errorf("Start(failing binary) = %v, want %q", err, want)
	}
}

func TestHasDevice(t *testing.T) {
	list := `echo 'Storage devices:'; echo 'name "ivshmem-doorbell", bus PCI, desc "Inter-VM shared memory"'`
	for _, tt := range []struct {
		name   string
		binary string
		device string
		want   bool
	}{
		{"listed", script(t, list+`; echo 'name "ivshmem-plain", bus PCI'`), "ivshmem-plain", true},
		{"only a longer name", script(t, list), "ivshmem", false},
		{"left out of the build", script(t, list), "ivshmem-plain", false},
		{"QEMU fails", script(t, `echo 'name "ivshmem-plain"'; exit 1`), "ivshmem-plain", false},
		{"no QEMU", filepath.Join(t.TempDir(), "none"), "ivshmem-plain", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := HasDevice(context.Background(), tt.binary, tt.device); got != tt.want {
				t.Errorf("HasDevice(%s) = %v, want %v", tt.device, got, tt.want)
			}
		})
	}
}

// TestHasDeviceRealQEMU: the QEMU on PATH is asked correctly: it has a
// device every vmtest VM uses and lacks one that does not exist.
func TestHasDeviceRealQEMU(t *testing.T) {
	bin, err := Find("")
	if err != nil {
		t.Skip(err)
	}
	if !HasDevice(context.Background(), bin, "pvpanic") {
		t.Errorf("%s lists no pvpanic device", bin)
	}
	if !HasDevice(context.Background(), bin, "ivshmem-plain") {
		t.Logf("%s has no ivshmem-plain: runs use the debug port", bin)
	}
	if HasDevice(context.Background(), bin, "no-such-device") {
		t.Errorf("%s claims a device that does not exist", bin)
	}
}

func TestArgsMachine(t *testing.T) {
	const base = "console=ttyS0,115200 panic=-1 oops=panic rdinit=/init cryptomgr.notests"
	pcDevices := []string{"isa-debugcon,iobase=0xe9,chardev=results", "isa-debug-exit,iobase=0xf4,iosize=0x04", "pvpanic"}
	microDevices := append([]string{"isa-serial,chardev=results,index=1"}, pcDevices...)
	tests := []struct {
		name    string
		opts    []Option
		machine string
		cpu     string
		serial  []string
		devices []string
		cmdline string
	}{
		{"pc ignores the TSC frequency", []Option{WithMachine(PC), WithTSCKHz(2000000)},
			"pc,accel=tcg", "max,-erms", []string{"chardev:console", "chardev:results"}, pcDevices, base + " tsc=reliable quiet"},
		{"microvm under TCG", []Option{WithMachine(Microvm), WithTSCKHz(2000000)},
			"microvm,accel=tcg,isa-serial=on", "max,-erms", []string{"chardev:console"}, microDevices, base + " tsc=reliable tsc_early_khz=2000000 quiet"},
		{"microvm under TCG, TSC unknown", []Option{WithMachine(Microvm)},
			"microvm,accel=tcg,isa-serial=on", "max,-erms", []string{"chardev:console"}, microDevices, base + " tsc=reliable quiet"},
		{"microvm under KVM: the kernel calibrates (kvmclock, an accurate PIT)", []Option{WithMachine(Microvm), WithAccel(KVM), WithTSCKHz(2000000)},
			"microvm,accel=kvm,isa-serial=on", "host", []string{"chardev:console"}, microDevices, base + " quiet"},
		{"microvm with shared memory has PCIe", []Option{WithMachine(Microvm), WithAccel(KVM), WithResultsShm("/r.shm")},
			"microvm,accel=kvm,isa-serial=on,pcie=on", "host", []string{"chardev:console"}, append(microDevices, "ivshmem-plain,memdev=results-mem"), base + " quiet"},
		{"pc under KVM with shared memory", []Option{WithAccel(KVM), WithResultsShm("/r.shm")},
			"pc,accel=kvm", "host", []string{"chardev:console", "chardev:results"}, append(pcDevices, "ivshmem-plain,memdev=results-mem"), base + " quiet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			argv := New("vmlinux.elf", "i", tt.opts...).Args()
			for _, c := range []struct {
				flag string
				want []string
			}{
				{"-machine", []string{tt.machine}}, {"-cpu", []string{tt.cpu}}, {"-serial", tt.serial},
				{"-device", tt.devices}, {"-append", []string{tt.cmdline}}, {"-kernel", []string{"vmlinux.elf"}},
			} {
				if got := flag(argv, c.flag); !slices.Equal(got, c.want) {
					t.Errorf("%s = %q, want %q", c.flag, got, c.want)
				}
			}
		})
	}
}

func TestHostTSCKHz(t *testing.T) {
	a, b := HostTSCKHz(5*time.Millisecond), HostTSCKHz(20*time.Millisecond)
	if !haveRDTSC {
		if a != 0 {
			t.Errorf("HostTSCKHz = %d without RDTSC, want 0", a)
		}
		return
	}
	info, _ := os.ReadFile("/proc/cpuinfo")
	if !strings.Contains(string(info), " constant_tsc") || !strings.Contains(string(info), " nonstop_tsc") {
		if a != 0 {
			t.Errorf("HostTSCKHz = %d on a host without an invariant TSC, want 0", a)
		}
		return
	}
	// Two windows must agree to a thousandth: that is the precision the
	// guest's clock gets.
	if a == 0 || b == 0 || math.Abs(float64(a-b)) > float64(b)/1000 {
		t.Errorf("HostTSCKHz over 5 ms = %d kHz, over 20 ms = %d kHz: want two equal, nonzero measurements", a, b)
	}
}

func TestOutputCachedPerBinary(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "qemu-system-x86_64")
	count := filepath.Join(dir, "count")
	write := func(version string) {
		os.WriteFile(bin, []byte("#!/bin/sh\necho x >> "+count+"\necho 'QEMU emulator version "+version+"'\n"), 0o755)
	}
	calls := func() int {
		b, _ := os.ReadFile(count)
		return strings.Count(string(b), "x")
	}
	write("9.0.0")
	ctx := context.Background()
	for range 3 {
		if v := Version(ctx, bin); v != "QEMU emulator version 9.0.0" {
			t.Fatalf("Version = %q", v)
		}
	}
	if n := calls(); n != 1 {
		t.Errorf("QEMU asked %d times for its version, want once", n)
	}
	// A new binary is asked again.
	write("10.1.0")
	if v := Version(ctx, bin); v != "QEMU emulator version 10.1.0" || calls() != 2 {
		t.Errorf("after an upgrade: Version = %q after %d calls, want 10.1.0 after 2", v, calls())
	}
	// A failure is not cached.
	os.WriteFile(bin, []byte("#!/bin/sh\necho x >> "+count+"\nexit 1\n"), 0o755)
	Version(ctx, bin)
	Version(ctx, bin)
	if n := calls(); n != 4 {
		t.Errorf("a failing QEMU was asked %d times in all, want 4", n)
	}
}
