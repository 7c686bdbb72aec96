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
	o           run.Options
	jobs        int
	kcidbOrigin string
	exitMode    exitMode
}

// addRunFlags registers the run flags on fs.
func addRunFlags(fs *flag.FlagSet) *runFlags {
	f := &runFlags{o: run.Options{Runner: contract.RunnerProxy}}
	o := &f.o
	accelVar(fs, &o.Accel)
	fs.Var(listFlag{&o.Cases, true}, "case", "run only cases whose ID matches this glob (repeatable, comma-separated)")
	fs.StringVar(&o.QEMU, "qemu", "", "QEMU binary (default qemu-system-x86_64 from PATH)")
	fs.StringVar(&o.CacheDir, "cache", "", "cache directory (default ~/.cache/vmtest)")
	enumVar(fs, &o.Debug, "debug", contract.DebugModes, contract.ParseDebugMode, "make the guest agent misbehave to test failure handling", debugHelp)
	fs.Var(durationFlag{&o.Timeouts.Boot}, "boot-timeout", "`duration` the guest agent has to report (default 20s under KVM, 60s under TCG)")
	fs.Var(durationFlag{&o.Timeouts.Case}, "case-timeout", "`duration` allowed for one case (default 20s under KVM, 60s under TCG)")
	fs.Var(durationFlag{&o.Timeouts.Run}, "timeout", "`duration` allowed for the whole VM (default 5m under KVM, 15m under TCG)")
	fs.BoolVar(&o.VerboseConsole, "verbose-console", false, "keep the kernel's full boot log in console.log (slower under TCG; oopses and panics are always logged in full)")
	fs.Var(listFlag{&o.Append, true}, "append", "extra kernel command-line parameter (repeatable)")
	enumVar(fs, &o.Runner, "runner", contract.Runners, contract.ParseRunner, "how cases get their namespaces and credentials", runnerHelp)
	fs.Var(listFlag{&o.Exec, false}, "exec", "run this static program in the guest instead of the matrix and time it (repeatable; e.g. the upstream clone3 kselftests)")
	fs.Var(countFlag{&f.jobs, 1}, "j", "`N` parallel make jobs for a build spec (default: number of CPUs)")
	exitModeVar(fs, &f.exitMode)
	fs.StringVar(&f.kcidbOrigin, "kcidb-origin", "", "KCIDB origin of kcidb.json's IDs: the CI system's name (default vmtest)")
	return f
}

// options returns the run options the flags set, once they are parsed.
func (f *runFlags) options() run.Options {
	o := f.o
	o.Cases = append([]string(nil), o.Cases...)
	o.Append = append([]string(nil), o.Append...)
	o.Agent = agentBinary
	return o
}

// agentBinary is the guest agent for every VM; "" is the vmtest-agent
// beside this executable (initramfs.FindAgent).
// Tests, whose binary is not static, set it to a static one.
var agentBinary = ""
