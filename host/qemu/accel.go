package qemu

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
)

// probeExit is the value the probe firmware writes to isa-debug-exit;
// QEMU then exits with status probeExit<<1|1.
const probeExit = 0x2a

// probeFirmware returns a 64 KiB BIOS image whose reset vector writes
// probeExit to the isa-debug-exit port and halts. Running it proves that
// the accelerator really executes guest code: on some hosts /dev/kvm opens
// fine (nested or paravirtual KVM) but every guest hangs.
func probeFirmware() []byte {
	fw := bytes.Repeat([]byte{0xf4}, 64<<10) // hlt everywhere
	code := []byte{
		0xb0, probeExit, // mov al, 0x2a
		0xe6, DebugExitIO, // out 0xf4, al
		0xf4,       // hlt
		0xeb, 0xfd, // jmp back to hlt
	}
	copy(fw[len(fw)-16:], code) // the reset vector, 16 bytes below 4 GiB
	return fw
}

// ProbeAccel runs the probe firmware under accel and reports whether it
// exited as expected within timeout. The error says why not.
func ProbeAccel(ctx context.Context, binary string, accel Accel, timeout time.Duration) error {
	dir, err := os.MkdirTemp("", "vmtest-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fw := filepath.Join(dir, "probe.bin")
	if err := os.WriteFile(fw, probeFirmware(), 0o644); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "-nodefaults", "-no-user-config", "-display", "none",
		"-machine", "pc,accel="+string(accel), "-cpu", CPUModel(accel), "-smp", "2", "-m", "16", "-bios", fw,
		"-device", fmt.Sprintf("isa-debug-exit,iobase=%#x,iosize=0x04", DebugExitIO))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("a test guest did not finish within %s under %s (the accelerator opens but guests hang)", timeout, accel)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == probeExit<<1|1 {
		return nil
	}
	// QEMU's first complaint is the cause; keep the warning one line.
	msg, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	return fmt.Errorf("test guest under %s failed (%v): %s", accel, err, msg)
}

// KVMUsable reports whether KVM can run guests here: /dev/kvm must open
// read-write and a test guest must actually run to completion.
func KVMUsable(ctx context.Context, binary string) error {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cannot open /dev/kvm: %w", err)
	}
	f.Close()
	return ProbeAccel(ctx, binary, KVM, 5*time.Second)
}

// ChooseAccel resolves "auto", "kvm" or "tcg". auto prefers KVM when it
// really works and otherwise returns TCG with a warning; kvm fails with the
// reason when KVM is unusable.
func ChooseAccel(ctx context.Context, binary, want string) (a Accel, warning string, err error) {
	switch want {
	case "tcg":
		return TCG, "", nil
	case "kvm":
		if err := KVMUsable(ctx, binary); err != nil {
			return "", "", fmt.Errorf("--accel kvm: KVM is not usable: %w", err)
		}
		return KVM, "", nil
	case "auto", "":
		if err := KVMUsable(ctx, binary); err != nil {
			return TCG, fmt.Sprintf("KVM not usable (%v); using TCG, which is much slower", err), nil
		}
		return KVM, "", nil
	}
	return "", "", fmt.Errorf("--accel %q: want auto, kvm or tcg", want)
}
