// Package doctor inspects the host for `vmtest doctor`: QEMU and the
// devices vmtest uses, the KVM verdict and how it was reached, the caches
// and their sizes, and whether kernels can be built here. It answers the
// first question of anyone whose run did not go as expected: what does
// vmtest think of this machine?
package doctor

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/vmtest/vmtest/host/initramfs"
	"github.com/vmtest/vmtest/host/qemu"
)

// Devices are the QEMU device models vmtest uses, and what for.
var Devices = []struct{ Name, Why string }{
	{"isa-debug-exit", "ends the VM without ACPI"},
	{"isa-debugcon", "result channel (debug port)"},
	{"ivshmem-plain", "result channel (shared memory; optional)"},
	{"pvpanic", "reports kernel panics to the host (optional)"},
}

// BuildTools are the commands a kernel build needs, and the headers.
var (
	BuildTools   = []string{"make", "gcc", "ld", "flex", "bison", "bc", "perl", "git", "xz", "dpkg-source", "apt-get"}
	BuildHeaders = []string{"/usr/include/libelf.h", "/usr/include/openssl/ssl.h"}
)

// Report is what doctor found.
type Report struct {
	QEMU        string          `json:"qemu"`
	QEMUVersion string          `json:"qemu_version"`
	QEMUError   string          `json:"qemu_error,omitempty"`
	Devices     map[string]bool `json:"devices"`
	// Verdict is the KVM verdict, cached or probed now.
	Verdict *qemu.Verdict `json:"kvm_verdict,omitempty"`
	// VerdictCached tells a cached verdict from one probed by this call.
	VerdictCached bool `json:"kvm_verdict_cached"`
	// TCG is nil when the probe firmware ran to its end under TCG.
	TCG      error        `json:"-"`
	TCGError string       `json:"tcg_error,omitempty"`
	Caches   []Cache      `json:"caches"`
	CacheDir string       `json:"cache_dir"`
	Missing  []string     `json:"build_missing,omitempty"`
	Host     qemu.HostKey `json:"host"`
	// Agent is the guest agent a run would boot; AgentError why there is
	// none, or why it cannot be the guest's /init.
	Agent      string `json:"agent,omitempty"`
	AgentError string `json:"agent_error,omitempty"`
}

// Cache is one of vmtest's cache directories.
type Cache struct {
	Name    string `json:"name"`
	What    string `json:"what"`
	Entries int    `json:"entries"`
	Bytes   int64  `json:"bytes"`
}

// caches names what lives under the cache directory.
var caches = []struct{ glob, name, what string }{
	{"accel", "accel", "KVM verdicts, one per host"},
	{"kernels", "kernels", "Debian kernel packages (run --kernel debian)"},
	{"src", "src", "Debian kernel source trees (build)"},
	{"build", "build", "built kernels (build)"},
	{"initramfs-*.cpio", "initramfs", "initramfs images, one per agent binary"},
}

// Options configure Inspect.
type Options struct {
	QEMU     string
	CacheDir string
	// Recheck probes KVM again and replaces the cached verdict.
	Recheck bool
	// Device is the KVM node (qemu.KVMDevice when empty).
	Device string
	// Agent is the guest agent binary (initramfs.FindAgent when empty).
	Agent string
}

// Inspect looks at the host.
func Inspect(ctx context.Context, o Options) (*Report, error) {
	r := &Report{CacheDir: o.CacheDir, Devices: map[string]bool{}}
	bin, err := qemu.Find(o.QEMU)
	if err != nil {
		r.QEMUError = err.Error()
	} else {
		r.QEMU = bin
		r.Host = qemu.ThisHost(ctx, bin)
		r.QEMUVersion = r.Host.QEMUVersion
		for _, d := range Devices {
			r.Devices[d.Name] = qemu.HasDevice(ctx, bin, d.Name)
		}
		if o.Recheck {
			os.Remove(qemu.VerdictPath(o.CacheDir, r.Host))
		}
		// The run's own chooser: the cached verdict, or a probe now.
		c := qemu.Chooser{Binary: bin, CacheDir: o.CacheDir, Device: o.Device}
		ch, err := c.Choose(ctx, qemu.AccelAuto)
		if err != nil {
			return nil, fmt.Errorf("probe KVM: %w", err)
		}
		r.Verdict, r.VerdictCached = ch.Verdict, ch.Cached
		if p := qemu.ProbeAccel(ctx, bin, qemu.TCG, 30*time.Second); p.Err != nil {
			r.TCG, r.TCGError = p.Err, p.Err.Error()
		}
	}
	if r.Agent, err = initramfs.Agent(o.Agent); err != nil {
		r.AgentError = err.Error()
	}
	for _, c := range caches {
		matches, _ := filepath.Glob(filepath.Join(o.CacheDir, c.glob))
		cc := Cache{Name: c.name, What: c.what}
		for _, m := range matches {
			if fi, err := os.Stat(m); err == nil && fi.IsDir() {
				ents, _ := os.ReadDir(m)
				for _, e := range ents {
					if !strings.HasPrefix(e.Name(), ".") {
						cc.Entries++
					}
				}
			} else if err == nil {
				cc.Entries++
			}
			cc.Bytes += du(m)
		}
		r.Caches = append(r.Caches, cc)
	}
	for _, t := range BuildTools {
		if _, err := exec.LookPath(t); err != nil {
			r.Missing = append(r.Missing, t)
		}
	}
	for _, h := range BuildHeaders {
		if _, err := os.Stat(h); err != nil {
			r.Missing = append(r.Missing, h)
		}
	}
	sort.Strings(r.Missing)
	return r, nil
}

// du is the disk usage of path, in bytes (allocated blocks, so sparse and
// hard-linked files count once as they should for a scratch tree).
func du(path string) int64 {
	var n int64
	seen := map[uint64]bool{}
	filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		if ino, blocks, ok := statBlocks(fi); ok {
			if seen[ino] {
				return nil
			}
			seen[ino] = true
			n += blocks * 512
			return nil
		}
		n += fi.Size()
		return nil
	})
	return n
}

// Usable reports whether a run can work here: QEMU found, TCG runs the
// probe (KVM is a bonus) and the guest agent is there.
func (r *Report) Usable() bool { return r.QEMUError == "" && r.TCG == nil && r.AgentError == "" }

// Write renders the report for a terminal.
func (r *Report) Write(w io.Writer) {
	fmt.Fprintln(w, "QEMU")
	if r.QEMUError != "" {
		fmt.Fprintf(w, "  not usable: %s\n", r.QEMUError)
	} else {
		fmt.Fprintf(w, "  %s: %s\n", r.QEMU, r.QEMUVersion)
		for _, d := range Devices {
			have := "yes"
			if !r.Devices[d.Name] {
				have = "NO"
			}
			fmt.Fprintf(w, "  %-16s %-3s  %s\n", d.Name, have, d.Why)
		}
		if r.TCG != nil {
			fmt.Fprintf(w, "  TCG: the probe guest failed: %v\n", r.TCG)
		} else {
			fmt.Fprintln(w, "  TCG: the probe guest runs")
		}
	}
	fmt.Fprintln(w, "KVM")
	if v := r.Verdict; v != nil {
		state := "usable"
		if !v.Usable {
			state = "not usable: " + v.Reason
		}
		from := "probed now"
		if r.VerdictCached {
			from = "cached " + v.At.Local().Format(time.DateTime) + " (--recheck probes again)"
		}
		fmt.Fprintf(w, "  %s\n", state)
		fmt.Fprintf(w, "  reached by: %s, %s\n", how(v), from)
		if v.ProbeMS > 0 {
			fmt.Fprintf(w, "  probe: %.0f ms under KVM", v.ProbeMS)
			if v.TCGProbeMS > 0 {
				fmt.Fprintf(w, ", %.0f ms under TCG", v.TCGProbeMS)
			}
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "  host: %s, kernel %s, %s\n", v.Host.CPU, v.Host.KernelRelease, v.Host.QEMUVersion)
	} else {
		fmt.Fprintln(w, "  unknown (no QEMU)")
	}
	fmt.Fprintln(w, "Guest agent")
	if r.AgentError != "" {
		fmt.Fprintf(w, "  not usable: %s\n", r.AgentError)
	} else {
		fmt.Fprintf(w, "  %s\n", r.Agent)
	}
	fmt.Fprintf(w, "Caches (%s)\n", r.CacheDir)
	for _, c := range r.Caches {
		fmt.Fprintf(w, "  %-10s %4d  %9s  %s\n", c.Name, c.Entries, size(c.Bytes), c.What)
	}
	fmt.Fprintln(w, "Kernel builds")
	if len(r.Missing) == 0 {
		fmt.Fprintln(w, "  possible: every tool and header vmtest build needs is here")
	} else {
		fmt.Fprintf(w, "  not possible: missing %s (on Debian: make deps)\n", strings.Join(r.Missing, ", "))
	}
}

func how(v *qemu.Verdict) string {
	switch v.How {
	case "probe":
		return "the probe firmware (long mode, paging, MSRs, cmpxchg16b), under KVM and timed against TCG"
	case "run":
		return "a real guest under KVM, which then ran under TCG"
	}
	return v.How
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
