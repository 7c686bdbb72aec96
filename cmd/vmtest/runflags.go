package main

import (
	"flag"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/contract"
)

// runFlags are the flags that configure a VM run. `vmtest run` and
// `vmtest compare` both register them with addRunFlags, so that every
// option of a run is an option of each kernel of a comparison. What is
// each command's own (the kernels, --out, --force, --json, --repeat,
// --confirm) each registers itself.
type runFlags struct {
	o      run.Options
	runner contract.Runner
	jobs   int
}

// addRunFlags registers the run flags on fs.
func addRunFlags(fs *flag.FlagSet) *runFlags {
	f := &runFlags{runner: contract.RunnerProxy}
	o := &f.o
	fs.StringVar(&o.Accel, "accel", "auto", "auto, kvm or tcg; auto uses KVM only if a test guest really runs")
	fs.Var(listFlag{&o.Cases, true}, "case", "run only cases whose ID matches this glob (repeatable, comma-separated)")
	fs.StringVar(&o.QEMU, "qemu", "", "QEMU binary (default qemu-system-x86_64 from PATH)")
	fs.StringVar(&o.CacheDir, "cache", "", "cache directory (default ~/.cache/vmtest)")
	fs.StringVar(&o.Debug, "debug", "", "make the guest agent misbehave to test failure handling: panic (PID 1 exits), hang (after the KTAP header), silent (no output), stall (the first case with namespaces or credentials blocks in its proxy), debugcon or uart (results through the debug port or the UART even where a faster channel works)")
	fs.Var(durationFlag{&o.Timeouts.Boot}, "boot-timeout", "`duration` the guest agent has to report (default 20s under KVM, 60s under TCG)")
	fs.Var(durationFlag{&o.Timeouts.Case}, "case-timeout", "`duration` allowed for one case (default 20s under KVM, 60s under TCG)")
	fs.Var(durationFlag{&o.Timeouts.Run}, "timeout", "`duration` allowed for the whole VM (default 5m under KVM, 15m under TCG)")
	fs.BoolVar(&o.VerboseConsole, "verbose-console", false, "keep the kernel's full boot log in console.log (slower under TCG; oopses and panics are always logged in full)")
	fs.Var(listFlag{&o.Append, true}, "append", "extra kernel command-line parameter (repeatable)")
	fs.Var(runnerFlag{&f.runner}, "runner", "how cases get their namespaces and credentials: proxy (processes sharing the agent's memory) or exec (re-executing the agent per level; slower, a cross-check)")
	fs.Var(listFlag{&o.Exec, false}, "exec", "run this static program in the guest instead of the matrix and time it (repeatable; e.g. the upstream clone3 kselftests)")
	fs.Var(countFlag{&f.jobs, 1}, "j", "`N` parallel make jobs for a build spec (default: number of CPUs)")
	return f
}

// options returns the run options the flags set, once they are parsed.
func (f *runFlags) options() run.Options {
	o := f.o
	o.Cases = append([]string(nil), o.Cases...)
	o.Append = append([]string(nil), o.Append...)
	if f.runner != contract.RunnerProxy {
		o.Append = append(o.Append, contract.ParamRunner+"="+string(f.runner))
	}
	o.Agent = agentBinary
	return o
}

// agentBinary is the guest agent for every VM; "" is this executable.
// Tests, whose binary is not static, set it to a static one.
var agentBinary = ""
