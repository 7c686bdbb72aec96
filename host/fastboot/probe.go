package fastboot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/proc"
	"github.com/vmtest/vmtest/internal/shmlog"
)

// probeCase is a case pattern no case matches: the agent then writes its
// KTAP header, an empty plan and its done record, and ends the VM. So the
// probe boot proves what a run needs of the machine, the kernel reaching
// the agent and the agent's results reaching the host, at the cost of a
// boot alone.
const probeCase = "vmtest-machine-probe"

// probe boots kernel on microvm with the run's initramfs and reports
// whether the agent's KTAP header arrived.
func (p Planner) probe(ctx context.Context, kernel string, tscKHz int) verdict {
	start := time.Now()
	v := verdict{Machine: qemu.PC, At: start.UTC()}
	timeout := p.ProbeTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
		if p.Accel == qemu.TCG {
			timeout = 30 * time.Second
		}
	}
	if p.Progress != nil {
		fmt.Fprintf(p.Progress, "probing microvm for this kernel (once; the verdict is cached)\n")
	}
	dir, err := os.MkdirTemp("", "vmtest-microvm-probe-")
	if err != nil {
		v.Reason = fmt.Sprintf("probe microvm: %v", err)
		return v
	}
	defer os.RemoveAll(dir)
	// The shared-memory channel as a run has it, so that the probe
	// meets the same devices (microvm's PCIe among them).
	var region *shmlog.Reader
	shm := ""
	if qemu.HasDevice(ctx, p.QEMU, "ivshmem-plain") {
		path := filepath.Join(dir, "results.shm")
		if shmlog.Create(path, contract.ResultsShmSize) == nil {
			if region, err = shmlog.Open(path); err == nil {
				defer region.Close()
				shm = path
			}
		}
	}
	cfg := qemu.New(kernel, p.Initramfs, qemu.WithBinary(p.QEMU), qemu.WithAccel(p.Accel),
		qemu.WithMachine(qemu.Microvm), qemu.WithTSCKHz(tscKHz), qemu.WithResultsShm(shm),
		qemu.WithAppend(append([]string{contract.ParamResults + "=" + contract.ResultsTTY, contract.ParamCases + "=" + probeCase}, p.Append...)...))
	argv := cfg.Args()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = proc.DieWithParent(nil)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		v.Reason = fmt.Sprintf("start QEMU for the microvm probe: %v", err)
		return v
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	results := filepath.Join(dir, qemu.ResultsFile)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var stream []byte // what arrived through shared memory
	header := func() bool {
		if region != nil {
			if b, err := region.Next(); err == nil {
				stream = append(stream, b...)
			}
		}
		b, _ := os.ReadFile(results)
		return bytes.Contains(append(b, stream...), []byte("KTAP version 1\n"))
	}
	for {
		select {
		case <-tick.C:
			if !header() {
				continue
			}
			// The agent is up and its results reach the host: that is
			// all a run needs. Its shutdown is not waited for.
			cmd.Process.Kill()
			<-exited
			v.Machine = qemu.Microvm
			v.ProbeMS = float64(time.Since(start).Microseconds()) / 1000
			return v
		case err := <-exited:
			v.ProbeMS = float64(time.Since(start).Microseconds()) / 1000
			if header() {
				v.Machine = qemu.Microvm
				return v
			}
			switch {
			case errors.Is(ctx.Err(), context.DeadlineExceeded):
				v.Reason = fmt.Sprintf("on microvm the kernel did not reach the guest agent within %s", timeout)
			case ctx.Err() != nil:
				v.Reason = "interrupted"
			default:
				msg, _, _ := strings.Cut(strings.TrimSpace(stderr.String()), "\n")
				v.Reason = fmt.Sprintf("on microvm QEMU ended (%v) before the guest agent's first words%s", err, colon(msg))
				if c, _ := os.ReadFile(filepath.Join(dir, qemu.ConsoleLog)); bytes.Contains(c, []byte("Kernel panic")) {
					v.Reason += "; the kernel panicked"
				}
			}
			return v
		}
	}
}

func colon(s string) string {
	if s == "" {
		return ""
	}
	return ": " + s
}
