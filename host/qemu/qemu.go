// Package qemu builds the QEMU command line for a vmtest guest and drives
// the VM over QMP (github.com/digitalocean/go-qemu).
//
// The whole command line is in Config.Args, so it can be read in one place
// and saved verbatim next to the results. Every path in it is relative to
// the run directory QEMU is started in, which makes the saved line
// copy-pasteable: cd into the result directory and run it.
package qemu

import (
	"fmt"
	"strings"
	"time"

	"github.com/vmtest/vmtest/internal/contract"
)

// Accel is the accelerator QEMU uses.
type Accel string

// The accelerators vmtest knows.
const (
	KVM Accel = "kvm"
	TCG Accel = "tcg"
)

// Machine is the QEMU machine type.
type Machine string

// The machine types vmtest boots.
const (
	// PC is the i440FX PC: SeaBIOS, legacy devices, ACPI, PCI through
	// I/O ports. Every x86 kernel boots on it.
	PC Machine = "pc"
	// Microvm is QEMU's minimal machine: no firmware to speak of (qboot),
	// no PCI scan of emulated chipset devices, PCIe only when asked for.
	// It boots an ELF kernel through its PVH note straight into the
	// kernel's 32-bit entry; under TCG it brings Debian's kernel to its
	// init about 0.4 s sooner than pc does.
	Microvm Machine = "microvm"
)

// File names inside the run directory.
const (
	ConsoleLog  = "console.log" // first serial port: the kernel console
	ResultsFile = "stream.ktap" // the guest's KTAP stream, whichever channel carried it (results.ktap is the nested document host/formats makes of it)
	QMPSocket   = "qmp.sock"    // QMP control socket
)

// Config describes one VM.
type Config struct {
	Binary string
	// Kernel is what -kernel gets: a bzImage, or an uncompressed ELF
	// with a PVH note (host/vmlinux), which QEMU boots without running
	// the bzImage's decompressor.
	Kernel    string
	Initramfs string
	Accel     Accel
	// Machine is the machine type (PC when empty).
	Machine Machine
	// TSCKHz is the guest's TSC frequency in kHz, passed to the kernel
	// on microvm under TCG (0: let the kernel calibrate). There the
	// guest's TSC is the host's, and the kernel's calibration against
	// the PIT, the only reference microvm has (no HPET, no ACPI PM
	// timer), fails on a busy host about half the time; the kernel then
	// marks the TSC unstable and hangs without a clock.
	TSCKHz   int
	MemoryMB int
	CPUs     int
	// Append are extra kernel parameters after vmtest's own.
	Append []string
	// VerboseConsole keeps the kernel's full boot log on the console.
	// By default it is quiet: under TCG every console byte costs an
	// emulated UART access (about 2 s of a distribution kernel's boot),
	// and oops and panic reports are printed in full regardless, because
	// the kernel raises the console log level for them.
	VerboseConsole bool
	// ResultsShm, when set, adds the shared-memory result channel: an
	// ivshmem-plain device backed by this file (contract.ResultsShmSize bytes),
	// which the host must have created (internal/shmlog) and must copy
	// into ResultsFile itself. Without it the agent writes through the
	// debug port or the UART, which QEMU puts in ResultsFile directly.
	ResultsShm string
	// QMPWait bounds the wait for QEMU's QMP socket (10 s when zero).
	QMPWait time.Duration
	// Nice, when above 0, is the nice value QEMU and all its threads
	// start with (Linux; ignored elsewhere): a VM that may take only what
	// the host's other VMs leave of its CPUs.
	Nice int
}

// Option changes a Config.
type Option func(*Config)

// New returns a Config for kernel and initramfs with defaults suited to the
// set_tid matrix: two vCPUs (so races are real), 512 MiB.
func New(kernel, initramfs string, opts ...Option) Config {
	c := Config{Binary: "qemu-system-x86_64", Kernel: kernel, Initramfs: initramfs, Accel: TCG, MemoryMB: 512, CPUs: DefaultCPUs}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithBinary sets the QEMU executable.
func WithBinary(path string) Option { return func(c *Config) { c.Binary = path } }

// WithAccel sets the accelerator.
func WithAccel(a Accel) Option { return func(c *Config) { c.Accel = a } }

// WithMemory sets guest memory in MiB.
func WithMemory(mb int) Option { return func(c *Config) { c.MemoryMB = mb } }

// WithMachine sets the machine type.
func WithMachine(m Machine) Option { return func(c *Config) { c.Machine = m } }

// WithTSCKHz tells a microvm guest under TCG its TSC frequency (see
// Config.TSCKHz).
func WithTSCKHz(khz int) Option { return func(c *Config) { c.TSCKHz = khz } }

// DefaultCPUs is a VM's vCPU count unless WithCPUs says otherwise: two,
// so that the matrix's races are real.
const DefaultCPUs = 2

// WithNice starts QEMU with nice value n (see Config.Nice).
func WithNice(n int) Option { return func(c *Config) { c.Nice = n } }

// WithCPUs sets the number of vCPUs.
func WithCPUs(n int) Option { return func(c *Config) { c.CPUs = n } }

// WithResultsShm adds the shared-memory result channel, backed by the
// region file at path ("": leave the channel out).
func WithResultsShm(path string) Option { return func(c *Config) { c.ResultsShm = path } }

// WithVerboseConsole keeps the full boot log on the console.
func WithVerboseConsole(v bool) Option { return func(c *Config) { c.VerboseConsole = v } }

// WithAppend adds kernel command-line parameters.
func WithAppend(params ...string) Option {
	return func(c *Config) { c.Append = append(c.Append, params...) }
}

// KernelCmdline is the kernel command line: console on the first serial
// port, no reboot on panic (panic=-1 reboots at once, which -no-reboot turns
// into a QEMU exit the host sees), oopses treated as panics so a broken
// kernel stops instead of running on in an undefined state.
//
// cryptomgr.notests skips the boot-time self-tests of every crypto
// algorithm the kernel registers: nothing the matrix does uses the crypto
// API, and on Debian's kernel the tests are a fifth of the boot under TCG
// (crypto_algapi_init, about 0.5 s). A kernel without the crypto manager
// ignores the parameter; --append cryptomgr.notests=0 brings the tests back.
func (c Config) KernelCmdline() string {
	p := []string{"console=ttyS0,115200", "panic=-1", "oops=panic", "rdinit=/init", "cryptomgr.notests"}
	if c.Accel == TCG {
		// TCG derives every vCPU's TSC from one host clock, so the TSCs
		// agree by construction; but the kernel's boot-time sync check
		// sees them drift (vCPUs start one after the other, slowly) and
		// falls back to HPET or jiffies. Then every clock read is a system
		// call and an emulated device access (or has 4 ms resolution),
		// which slows the Go agent and blurs every duration it measures.
		p = append(p, "tsc=reliable")
		if c.Machine == Microvm && c.TSCKHz > 0 {
			p = append(p, fmt.Sprintf("tsc_early_khz=%d", c.TSCKHz))
		}
	}
	if !c.VerboseConsole {
		p = append(p, "quiet")
	}
	return strings.Join(append(p, c.Append...), " ")
}

// Args is the full QEMU argv, binary first.
func (c Config) Args() []string {
	cpu := CPUModel(c.Accel)
	// With the shared-memory channel the host appends to the results
	// file too; without it QEMU alone writes it, from the start.
	resultsAppend := ""
	if c.ResultsShm != "" {
		resultsAppend = ",append=on"
	}
	// The second UART: pc makes one for every -serial; microvm only
	// its first (the console), so the results UART is a device there.
	resultsUART := []string{"-serial", "chardev:results"}
	if c.Machine == Microvm {
		resultsUART = []string{"-device", "isa-serial,chardev=results,index=1"}
	}
	args := []string{
		c.Binary,
		"-nodefaults", "-no-user-config", "-nographic",
		"-machine", c.machineArg(),
		"-cpu", cpu,
		// One socket per vCPU: SeaBIOS's MP table lists one CPU per
		// package, so with the default (every vCPU a core of one socket)
		// a kernel without ACPI, such as a tinyconfig one, boots on a
		// single CPU however many the VM has.
		"-smp", smpArg(c.CPUs),
		"-m", fmt.Sprint(c.MemoryMB),
		"-kernel", c.Kernel,
		"-initrd", c.Initramfs,
		"-append", c.KernelCmdline(),
		"-no-reboot",
		// ttyS0: kernel console. ttyS1: the structured result channel. An
		// 8250 UART is built into distribution kernels, where virtio
		// drivers are modules the initramfs does not carry.
		"-chardev", "file,id=console,path=" + ConsoleLog,
		"-serial", "chardev:console",
		// The results chardev has two front ends on one file: the UART
		// and QEMU's debug port, which is much cheaper per byte and which
		// the agent uses when the kernel grants it port access (see
		// guest/debugcon). mux=on lets them share; only one ever writes.
		"-chardev", "file,id=results,path=" + ResultsFile + ",mux=on" + resultsAppend,
	}
	args = append(args, resultsUART...)
	args = append(args,
		"-device", fmt.Sprintf("isa-debugcon,iobase=%#x,chardev=results", contract.DebugconPort),
		"-qmp", "unix:"+QMPSocket+",server=on,wait=off",
		"-monitor", "none",
		// Lets the agent end the VM without ACPI (tinyconfig kernels).
		"-device", fmt.Sprintf("isa-debug-exit,iobase=%#x,iosize=0x04", contract.DebugExitPort),
		// Reports panics as a QMP event on kernels with the pvpanic driver.
		"-device", "pvpanic",
	)
	if c.ResultsShm != "" {
		// The cheapest result channel: the agent's stores land in the
		// host's file (share=on), with no VM exit per byte. Every kernel
		// with PCI can use it; the agent falls back to the ports above.
		args = append(args,
			"-object", fmt.Sprintf("memory-backend-file,id=results-mem,size=%d,mem-path=%s,share=on", contract.ResultsShmSize, c.ResultsShm),
			"-device", "ivshmem-plain,memdev=results-mem")
	}
	return args
}

// machineArg is -machine's value. On microvm: PCIe only for the
// shared-memory channel (the kernel finds its ECAM through ACPI, so a
// kernel without ACPI sees no PCI and the agent uses the debug port);
// the ISA serial port for the console; the PIT, PIC and RTC as microvm
// chooses them (under TCG all three are on).
func (c Config) machineArg() string {
	m := c.Machine
	if m == "" {
		m = PC
	}
	s := string(m) + ",accel=" + string(c.Accel)
	if m == Microvm {
		s += ",isa-serial=on"
		if c.ResultsShm != "" {
			s += ",pcie=on"
		}
	}
	return s
}

// ShellLine renders argv as one copy-pasteable shell line.
func ShellLine(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=,:+@%", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// CPUModel is the -cpu model used with accel: the host's own CPU under KVM,
// and under TCG QEMU's "max" (every feature TCG can emulate) without ERMS.
// The acceleration probe boots with the same model, because a KVM that
// runs a plain qemu64 guest can still refuse the host model (seen: MSR
// 0x10a rejected by a paravirtual KVM).
//
// Why not ERMS: on a CPU that has it, the kernel clears and copies pages
// and user buffers with byte-wise REP STOSB/MOVSB (clear_page_erms,
// copy_user_enhanced_fast_string) and Go's memmove does the same for large
// moves, which a real CPU runs in cache-line steps but TCG emulates one
// byte per iteration; without it they use REP STOSQ/MOVSQ or unrolled
// loops, a quarter to an eighth of the iterations. A whole run on the
// minimal kernel took about a tenth less (boot and cases alike: medians
// of six alternating pairs, docs/fastboot.md); nothing in the matrix
// depends on the flag.
func CPUModel(accel Accel) string {
	if accel == KVM {
		return "host"
	}
	return "max,-erms"
}

// smpArg is -smp's value for n vCPUs, each its own socket (see Args).
func smpArg(n int) string { return fmt.Sprintf("%d,sockets=%d,cores=1,threads=1", n, n) }
