package run

import (
	"errors"
	"fmt"
	"time"

	"github.com/vmtest/vmtest/host/initramfs"
	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// Check validates every option but the kernel: what Prepare checks besides
// the image. Callers run it before they build or download a kernel, so a
// bad flag costs nothing. Its errors match inputerr.ErrBadInput.
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
		field string
		d     time.Duration
	}{{"boot timeout", o.Timeouts.Boot}, {"case timeout", o.Timeouts.Case}, {"run timeout", o.Timeouts.Run}} {
		// Zero is the default; the CLI refuses a zero it was given.
		if t.d < 0 {
			return c, inputerr.Errorf(t.field, t.d.String(), "must be positive")
		}
	}
	if err := CheckCache(o.CacheDir); err != nil {
		return c, err
	}
	if c.cases, err = catalog.Select(o.Cases); err != nil {
		return c, inputerr.Wrap(err)
	}
	if !o.Shard.Whole() {
		if o.Shard.K < 1 || o.Shard.K > o.Shard.N {
			return c, inputerr.New("shard", o.Shard.String(), errors.New("want K/N with 1 ≤ K ≤ N"))
		}
		if c.cases = o.Shard.Pick(c.cases); len(c.cases) == 0 {
			return c, inputerr.New("shard", o.Shard.String(), fmt.Errorf("is empty: the selection has fewer cases than shards"))
		}
	}
	// The typed options can still hold any string: a library caller's.
	if _, err := qemu.ParseAccelMode(string(o.Accel)); err != nil {
		return c, inputerr.New("accel", string(o.Accel), inputerr.OneOf(qemu.AccelModes))
	}
	if _, err := contract.ParseDebugMode(string(o.Debug)); err != nil {
		return c, inputerr.New("debug", string(o.Debug), inputerr.OneOf(contract.DebugModes))
	}
	if _, err := contract.ParseRunner(string(o.Runner)); err != nil {
		return c, inputerr.New("runner", string(o.Runner), inputerr.OneOf(contract.Runners))
	}
	if c.qemuBin, err = qemu.Find(o.QEMU); err != nil {
		return c, inputerr.Wrap(err)
	}
	if c.agent, err = initramfs.Agent(o.Agent); err != nil {
		return c, err
	}
	if len(o.Exec) > 0 {
		if len(o.Cases) > 0 {
			return c, inputerr.Errorf("exec", "", "runs programs instead of the matrix and takes no case patterns")
		}
		for _, e := range o.Exec {
			if err := initramfs.CheckProgram(e); err != nil {
				return c, inputerr.New("exec", "", err)
			}
		}
		c.cases = nil
	}
	return c, nil
}
