// Command vmtest verifies Linux kernel patches in QEMU virtual machines: it
// boots a kernel with an initramfs holding its own binary as the guest
// agent and runs the clone3() set_tid conformance matrix.
//
// Exit status: 0 no case failed; 1 a case failed; 2 bad input or usage
// (nothing booted); 3 infrastructure failure (no boot, kernel crash,
// timeout, missing done record).
//
// The same binary is the guest agent: as PID 1 (the initramfs's /init) or
// with the hidden first argument agent.CaseArg it runs guest code instead.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vmtest/vmtest/guest/agent"
	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/host/build"
	"github.com/vmtest/vmtest/host/fetch"
	"github.com/vmtest/vmtest/host/report"
	"github.com/vmtest/vmtest/host/run"
)

// Exit statuses.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
	exitInfra  = 3
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == agent.CaseArg {
		agent.CaseMain(os.Args)
		return
	}
	if os.Getpid() == 1 {
		agent.Main()
		return
	}
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: vmtest COMMAND [flags]

commands:
  run      boot a kernel and run the set_tid matrix
  matrix   list the matrix's cases without booting
  build    build a bzImage from a kernel tree, config fragment and patches
  compare  run base and patched kernels side by side and classify what changed

Run 'vmtest COMMAND -h' for a command's flags.
`

// Main runs the CLI and returns the exit status.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "matrix":
		return cmdMatrix(args[1:], stdout, stderr)
	case "build":
		return cmdBuild(ctx, args[1:], stdout, stderr)
	case "compare":
		return cmdCompare(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "vmtest: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

// caseFlag collects repeatable, comma-separable --case patterns.
type caseFlag []string

func (c *caseFlag) String() string { return strings.Join(*c, ",") }
func (c *caseFlag) Set(v string) error {
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*c = append(*c, p)
		}
	}
	return nil
}

func cmdMatrix(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest matrix", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cases caseFlag
	fs.Var(&cases, "case", "only cases whose ID matches this glob (repeatable)")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	sel, err := matrix.Select(cases)
	if err != nil {
		fmt.Fprintf(stderr, "vmtest matrix: %v\n", err)
		return exitUsage
	}
	report.Matrix(stdout, sel)
	fmt.Fprintf(stdout, "%d cases\n", len(sel))
	return exitOK
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o run.Options
	var cases caseFlag
	fs.StringVar(&o.Kernel, "kernel", "", "bzImage to boot; \"debian\" for Debian's packaged kernel (downloaded once into the cache); or a build spec, build[:patch=FILE,config=FRAG,tree=DIR] (see vmtest build)")
	fs.StringVar(&o.Accel, "accel", "auto", "auto, kvm or tcg; auto uses KVM only if a test guest really runs")
	fs.Var(&cases, "case", "run only cases whose ID matches this glob (repeatable, comma-separated)")
	fs.StringVar(&o.Out, "out", "", "result directory (default results/<run-id>)")
	fs.StringVar(&o.QEMU, "qemu", "", "QEMU binary (default qemu-system-x86_64 from PATH)")
	fs.StringVar(&o.CacheDir, "cache", "", "cache directory (default ~/.cache/vmtest)")
	fs.StringVar(&o.Debug, "debug", "", "make the guest agent misbehave to test failure handling: panic (PID 1 exits), hang (after the KTAP header), silent (no output), stall (the first case with namespaces or credentials blocks in its proxy), debugcon or uart (results through the debug port or the UART even where a faster channel works)")
	fs.DurationVar(&o.Timeouts.Boot, "boot-timeout", 0, "time until the guest agent must report (default 20s under KVM, 60s under TCG)")
	fs.DurationVar(&o.Timeouts.Case, "case-timeout", 0, "time one case may take (default 20s under KVM, 60s under TCG)")
	fs.DurationVar(&o.Timeouts.Run, "timeout", 0, "time the whole VM may take (default 5m under KVM, 15m under TCG)")
	fs.BoolVar(&o.VerboseConsole, "verbose-console", false, "keep the kernel's full boot log in console.log (slower under TCG; oopses and panics are always logged in full)")
	var appendFlag caseFlag
	fs.Var(&appendFlag, "append", "extra kernel command-line parameter (repeatable)")
	runner := fs.String("runner", "proxy", "how cases get their namespaces and credentials: proxy (processes sharing the agent's memory) or exec (re-executing the agent per level; slower, a cross-check)")
	var execFlag listFlag
	fs.Var(&execFlag, "exec", "run this static program in the guest instead of the matrix and time it (repeatable; e.g. the upstream clone3 kselftests)")
	jsonOut := fs.Bool("json", false, "print result.json to stdout instead of the table")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vmtest run: unexpected argument %q (the kernel is given with --kernel)\n", fs.Arg(0))
		return exitUsage
	}
	o.Cases = cases
	o.Append = appendFlag
	o.Exec = execFlag
	switch *runner {
	case agent.RunnerProxy:
	case agent.RunnerExec:
		o.Append = append(o.Append, agent.ParamRunner+"="+agent.RunnerExec)
	default:
		fmt.Fprintf(stderr, "vmtest run: --runner %q: want proxy or exec\n", *runner)
		return exitUsage
	}
	o.Progress = stderr
	if build.IsSpec(o.Kernel) {
		sp, cfgs, err := build.ParseSpec(o.Kernel)
		if err != nil {
			fmt.Fprintf(stderr, "vmtest run: %v\n", err)
			return exitUsage
		}
		m, err := buildKernel(ctx, sp, cfgs, o.CacheDir, 0, func(l string) { fmt.Fprintln(stderr, "build: "+l) })
		if err != nil {
			return buildErr(stderr, "vmtest run", err)
		}
		o.Kernel = m.BzImage
	}
	if o.Kernel == "debian" {
		cache := o.CacheDir
		if cache == "" {
			cache = run.DefaultCacheDir()
		}
		k, err := fetch.DebianKernel(ctx, cache)
		if err != nil {
			fmt.Fprintf(stderr, "vmtest run: %v\n", err)
			return exitInfra
		}
		o.Kernel = k
	}
	p, err := run.Prepare(o)
	if err != nil {
		return reportErr(stderr, err)
	}
	res, err := p.Run(ctx)
	if err != nil {
		return reportErr(stderr, err)
	}
	if *jsonOut {
		printJSON(stdout, res)
	} else {
		report.Cases(stdout, res.Cases)
		report.Summary(stdout, res.Cases)
	}
	fmt.Fprintf(stderr, "results: %s (%.1fs, guest %.1fs in cases)\n", res.QEMU.Dir, res.Timings.TotalMS/1000, res.Timings.GuestSumMS/1000)
	if res.Infra() {
		fmt.Fprintf(stderr, "vmtest run: %s: %s\n", res.Status, res.StatusDetail)
		if res.Crash != "" {
			fmt.Fprintf(stderr, "--- console excerpt ---\n%s\n---\n", res.Crash)
		}
	}
	return exitStatus(res)
}

// exitStatus maps a finished run to the exit status: an infrastructure
// failure outranks failed cases, because the cases' outcomes cannot be
// trusted when the VM did not finish properly.
func exitStatus(res *run.Result) int {
	switch {
	case res.Infra():
		return exitInfra
	case res.Failed():
		return exitFailed
	}
	return exitOK
}

func reportErr(stderr io.Writer, err error) int {
	var ue *run.UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "vmtest: %v\n", err)
		return exitUsage
	}
	fmt.Fprintf(stderr, "vmtest: %v\n", err)
	return exitInfra
}

func printJSON(w io.Writer, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	w.Write(append(b, '\n'))
}
