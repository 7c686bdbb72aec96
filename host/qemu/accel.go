package qemu

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed" // the probe firmware
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/internal/atomicfile"
	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/proc"
)

// probeExit is the value the probe firmware writes to isa-debug-exit;
// QEMU then exits with status probeExit<<1|1.
const probeExit = 0x2a

// probeCode is the probe's machine code, assembled from probefw/probe.asm
// (which says what each step does and why). It is linked to run at
// physical 0xf0000, the start of a 64 KiB BIOS image.
//
//go:embed probe.bin
var probeCode []byte

// probeStages names the letters the probe writes to COM1 as it reaches
// each step, in order (see probefw/probe.asm).
var probeStages = []struct {
	letter byte
	what   string
}{
	{'R', "real mode"},
	{'P', "protected mode"},
	{'T', "writing page tables"},
	{'L', "entering long mode"},
	{'C', "CPUID"},
	{'M', "MSRs"},
	{'F', "first-touch page faults"},
	{'U', "page-table updates with paging on"},
	{'X', "locked instructions (cmpxchg16b)"},
}

// probeFirmware returns the 64 KiB BIOS image: the probe's code at its
// start and, at the reset vector 16 bytes below its end, a far jump to it.
func probeFirmware() []byte {
	fw := bytes.Repeat([]byte{0xf4}, 64<<10) // hlt everywhere else
	copy(fw, probeCode)
	copy(fw[len(fw)-16:], []byte{0xea, 0x00, 0x00, 0x00, 0xf0}) // ljmp f000:0000
	return fw
}

// ProbeResult is what one run of the probe firmware showed.
type ProbeResult struct {
	// Err is nil when the probe ran to its end and exited as expected.
	Err error
	// Reached is the last step the probe announced ("" if none).
	Reached string
	// Elapsed is the wall time of the whole QEMU process.
	Elapsed time.Duration
}

// ProbeAccel boots the probe firmware under accel with the CPU model and
// machine type a run uses, and reports how far it got within timeout.
func ProbeAccel(ctx context.Context, binary string, accel Accel, timeout time.Duration) ProbeResult {
	dir, err := os.MkdirTemp("", "vmtest-probe-")
	if err != nil {
		return ProbeResult{Err: fmt.Errorf("probe firmware: %w", err)}
	}
	defer os.RemoveAll(dir)
	fw := filepath.Join(dir, "probe.bin")
	if err := os.WriteFile(fw, probeFirmware(), 0o644); err != nil {
		return ProbeResult{Err: fmt.Errorf("probe firmware: %w", err)}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-nodefaults", "-no-user-config", "-display", "none",
		"-machine", "pc,accel="+string(accel), "-cpu", CPUModel(accel), "-smp", smpArg(2), "-m", "128",
		"-bios", fw, "-serial", "file:"+filepath.Join(dir, "serial.log"), "-no-reboot",
		"-device", fmt.Sprintf("isa-debug-exit,iobase=%#x,iosize=0x04", contract.DebugExitPort))
	cmd.SysProcAttr = proc.DieWithParent(nil)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	r := ProbeResult{Elapsed: time.Since(start)}
	serial, _ := os.ReadFile(filepath.Join(dir, "serial.log"))
	r.Reached = reached(serial)
	where := "before its first step"
	if r.Reached != "" {
		where = "after " + r.Reached
	}
	var ee *exec.ExitError
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		r.Err = fmt.Errorf("the probe guest hung %s (no exit within %s under %s)", where, timeout, accel)
	case errors.As(err, &ee) && ee.ExitCode() == probeExit<<1|1:
		if !bytes.HasSuffix(serial, []byte("ok\n")) {
			r.Err = fmt.Errorf("the probe guest exited without writing its serial output (reached %q)", serial)
		}
	case err == nil:
		// -no-reboot: a triple fault resets the guest and QEMU exits 0.
		r.Err = fmt.Errorf("the probe guest reset (a fault it could not take) %s under %s", where, accel)
	default:
		// QEMU's first complaint is the cause; keep the message one line.
		msg, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
		r.Err = fmt.Errorf("the probe guest under %s failed %s (%v): %s", accel, where, err, msg)
	}
	return r
}

// reached names the last probe step announced in serial.
func reached(serial []byte) string {
	last := ""
	for _, s := range probeStages {
		if bytes.IndexByte(serial, s.letter) < 0 {
			break
		}
		last = s.what
	}
	return last
}

// KVMDevice is the KVM device node.
const KVMDevice = "/dev/kvm"

// kvmTooSlow is how much longer than TCG the KVM probe may take before KVM
// counts as unusable. The probe is tiny: under real KVM it ends in QEMU's
// start-up time, about as fast as TCG or faster. A KVM that needs a second
// more than the emulator for a few megabytes of page faults is the kind
// that takes minutes to boot a kernel.
var kvmTooSlow = time.Second

// probeTimeout bounds each probe run. TCG runs the probe in about 0.1 s
// here; a guest still running after this long is hung.
const probeTimeout = 4 * time.Second

// Verdict is what vmtest found out about KVM on one host, as cached.
type Verdict struct {
	Host   HostKey `json:"host"`
	Usable bool    `json:"usable"`
	// Reason says why KVM is unusable ("" when usable).
	Reason string `json:"reason,omitempty"`
	// How says how the verdict was reached: "probe" (the probe firmware),
	// or "run" (a real guest under KVM showed no sign of life, or QEMU
	// stopped it with an internal error, and then ran under TCG).
	How string `json:"how"`
	// ProbeMS and TCGProbeMS are the probe's wall times under KVM and
	// TCG (0 when that probe did not run).
	ProbeMS    float64   `json:"probe_ms,omitempty"`
	TCGProbeMS float64   `json:"tcg_probe_ms,omitempty"`
	At         time.Time `json:"at"`
}

// HostKey identifies what a KVM verdict depends on: a new QEMU, host
// kernel or CPU (a CI runner of another kind) asks again.
type HostKey struct {
	QEMU          string `json:"qemu"`
	QEMUVersion   string `json:"qemu_version"`
	KernelRelease string `json:"kernel_release"`
	CPU           string `json:"cpu"`
	// Probe identifies the probe firmware: a better probe asks again.
	Probe string `json:"probe"`
}

// ThisHost describes this host and the QEMU at binary.
func ThisHost(ctx context.Context, binary string) HostKey {
	sum := sha256.Sum256(probeCode)
	k := HostKey{QEMU: binary, Probe: hex.EncodeToString(sum[:6])}
	if p, err := filepath.EvalSymlinks(binary); err == nil {
		k.QEMU = p
	}
	k.QEMUVersion = Version(ctx, binary)
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		k.KernelRelease = unix.ByteSliceToString(u.Release[:])
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if name, ok := strings.CutPrefix(l, "model name"); ok {
				k.CPU = strings.TrimSpace(strings.TrimLeft(name, " \t:"))
				break
			}
		}
	}
	return k
}

// Version is the first line of `binary --version` ("" if it cannot say),
// cached per binary (see output).
func Version(ctx context.Context, binary string) string {
	out, err := output(ctx, binary, "--version")
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(string(out), "\n")
	return strings.TrimSpace(line)
}

// VerdictPath is where the verdict for host is cached under cacheDir.
func VerdictPath(cacheDir string, host HostKey) string {
	b, _ := json.Marshal(host)
	sum := sha256.Sum256(b)
	return filepath.Join(cacheDir, "accel", "kvm-"+hex.EncodeToString(sum[:8])+".json")
}

// LoadVerdict returns the cached verdict for host, or nil.
func LoadVerdict(cacheDir string, host HostKey) *Verdict {
	b, err := os.ReadFile(VerdictPath(cacheDir, host))
	if err != nil {
		return nil
	}
	var v Verdict
	if json.Unmarshal(b, &v) != nil || v.Host != host || v.How == "" {
		return nil // another host's, or not ours: ask again
	}
	return &v
}

// SaveVerdict caches v under cacheDir, atomically (a rename), so that a
// concurrent run reads the old verdict or the new one, never half of one.
func SaveVerdict(cacheDir string, v Verdict) error {
	p := VerdictPath(cacheDir, v.Host)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("cache KVM verdict: %w", err)
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	if err := atomicfile.WriteFile(p, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("cache KVM verdict: %w", err)
	}
	return nil
}

// ProbeKVM decides whether KVM runs guests on host: /dev/kvm must open
// read-write, the probe firmware must run to its end under KVM, and not
// take over kvmTooSlow longer than under TCG.
func ProbeKVM(ctx context.Context, binary, device string, host HostKey, timeout time.Duration) Verdict {
	if timeout == 0 {
		timeout = probeTimeout
	}
	v := Verdict{Host: host, How: "probe", At: time.Now().UTC()}
	f, err := os.OpenFile(device, os.O_RDWR, 0)
	if err != nil {
		v.Reason = fmt.Sprintf("cannot open %s: %v", device, err)
		return v
	}
	f.Close()
	k := ProbeAccel(ctx, binary, KVM, timeout)
	v.ProbeMS = ms(k.Elapsed)
	if k.Err != nil {
		v.Reason = k.Err.Error()
		return v
	}
	t := ProbeAccel(ctx, binary, TCG, timeout)
	v.TCGProbeMS = ms(t.Elapsed)
	if t.Err == nil && k.Elapsed > t.Elapsed+kvmTooSlow {
		v.Reason = fmt.Sprintf("the probe guest took %s under KVM against %s under TCG (KVM runs it, far too slowly)",
			k.Elapsed.Round(time.Millisecond), t.Elapsed.Round(time.Millisecond))
		return v
	}
	v.Usable = true
	return v
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// AccelMode is what the user asked for: auto, kvm or tcg.
type AccelMode string

// The accelerator modes.
const (
	AccelAuto AccelMode = "auto"
	AccelKVM  AccelMode = "kvm"
	AccelTCG  AccelMode = "tcg"
)

// AccelModes lists the valid modes, the default first.
var AccelModes = []AccelMode{AccelAuto, AccelKVM, AccelTCG}

// ParseAccelMode checks an accelerator mode ("" is auto).
func ParseAccelMode(s string) (AccelMode, error) {
	if s == "" {
		return AccelAuto, nil
	}
	for _, m := range AccelModes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("accelerator %q: want auto, kvm or tcg", s)
}

// Choice is the accelerator chosen for a run and how.
type Choice struct {
	Accel Accel
	// Warning, when set, is the one line to show the user (KVM dropped).
	Warning string
	// Verdict is the KVM verdict used (nil for tcg).
	Verdict *Verdict
	// Cached tells whether the verdict came from the cache.
	Cached bool
}

// ErrKVMUnusable is matched by errors.Is when --accel kvm cannot be had.
var ErrKVMUnusable = errors.New("KVM is not usable")

// Chooser picks an accelerator, caching the KVM verdict per host.
type Chooser struct {
	Binary string
	// CacheDir holds the verdict ("" caches nothing).
	CacheDir string
	// Device is the KVM device node (KVMDevice when empty); tests point
	// it at a file they control.
	Device string
	// ProbeTimeout bounds each probe run (probeTimeout when zero).
	ProbeTimeout time.Duration
}

// Choose resolves mode: tcg is TCG; kvm is KVM if the verdict allows it
// and ErrKVMUnusable otherwise; auto is KVM when it works and TCG with a
// warning when not. A verdict is probed once per host and then cached.
func (c Chooser) Choose(ctx context.Context, mode AccelMode) (Choice, error) {
	if mode == AccelTCG {
		return Choice{Accel: TCG}, nil
	}
	host := ThisHost(ctx, c.Binary)
	v, cached := (*Verdict)(nil), false
	if c.CacheDir != "" {
		v = LoadVerdict(c.CacheDir, host)
		cached = v != nil
	}
	if v == nil {
		dev := c.Device
		if dev == "" {
			dev = KVMDevice
		}
		got := ProbeKVM(ctx, c.Binary, dev, host, c.ProbeTimeout)
		v = &got
		if ctx.Err() != nil {
			return Choice{}, ctx.Err() // interrupted: no verdict either way
		}
		if c.CacheDir != "" {
			if err := SaveVerdict(c.CacheDir, got); err != nil {
				return Choice{}, err
			}
		}
	}
	if v.Usable {
		return Choice{Accel: KVM, Verdict: v, Cached: cached}, nil
	}
	if mode == AccelKVM {
		return Choice{}, fmt.Errorf("%w: %s", ErrKVMUnusable, v.Reason)
	}
	from := ""
	if cached {
		from = " (cached verdict; `vmtest doctor --recheck` asks again)"
	}
	return Choice{Accel: TCG, Verdict: v, Cached: cached,
		Warning: fmt.Sprintf("KVM not usable: %s%s; using TCG, which is much slower", v.Reason, from)}, nil
}

// RecordKVMFailure caches that a real guest failed under KVM on this host
// after the probe had passed (a run's fallback), so that later runs go to
// TCG at once and --accel kvm is refused with reason.
func (c Chooser) RecordKVMFailure(ctx context.Context, reason string) error {
	if c.CacheDir == "" {
		return nil
	}
	v := Verdict{Host: ThisHost(ctx, c.Binary), How: "run", Reason: reason, At: time.Now().UTC()}
	if old := LoadVerdict(c.CacheDir, v.Host); old != nil {
		v.ProbeMS, v.TCGProbeMS = old.ProbeMS, old.TCGProbeMS
	}
	return SaveVerdict(c.CacheDir, v)
}
