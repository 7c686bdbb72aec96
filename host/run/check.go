package run

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/vmtest/vmtest/host/initramfs"
	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/catalog"
)

// Check validates every option but the kernel: what Prepare checks besides
// the image. Callers run it before they build or download a kernel, so a
// bad flag costs nothing. Its errors are *UsageError.
func (o Options) Check() error {
	_, err := o.check()
	return err
}

// checked is what check finds out on the way.
type checked struct {
	cases   []catalog.Info
	qemuBin string
	agent   string
}

func (o Options) check() (checked, error) {
	var c checked
	var err error
	for _, t := range []struct {
		flag string
		d    time.Duration
	}{{"--boot-timeout", o.Timeouts.Boot}, {"--case-timeout", o.Timeouts.Case}, {"--timeout", o.Timeouts.Run}} {
		// Zero is the default; the CLI refuses a zero it was given.
		if t.d < 0 {
			return c, &UsageError{fmt.Errorf("%s %s: must be positive", t.flag, t.d)}
		}
	}
	if err := CheckCache(o.CacheDir); err != nil {
		return c, err
	}
	if c.cases, err = catalog.Select(o.Cases); err != nil {
		return c, &UsageError{err}
	}
	switch o.Accel {
	case "", "auto", "kvm", "tcg":
	default:
		return c, &UsageError{fmt.Errorf("--accel %q: want auto, kvm or tcg", o.Accel)}
	}
	switch o.Debug {
	case "", "panic", "hang", "silent", "stall", "debugcon", "uart":
	default:
		return c, &UsageError{fmt.Errorf("--debug %q: want panic, hang, silent, stall, debugcon or uart", o.Debug)}
	}
	if c.qemuBin, err = qemu.Find(o.QEMU); err != nil {
		return c, &UsageError{err}
	}
	if c.agent = o.Agent; c.agent == "" {
		if c.agent, err = os.Executable(); err != nil {
			return c, fmt.Errorf("find own executable: %w", err)
		}
	}
	if err := initramfs.CheckStatic(c.agent); err != nil {
		return c, &UsageError{err}
	}
	if len(o.Exec) > 0 {
		if len(o.Cases) > 0 {
			return c, &UsageError{errors.New("--exec runs programs instead of the matrix; it does not take --case")}
		}
		for _, e := range o.Exec {
			if err := initramfs.CheckProgram(e); err != nil {
				return c, &UsageError{fmt.Errorf("--exec: %w", err)}
			}
		}
		c.cases = nil
	}
	return c, nil
}
