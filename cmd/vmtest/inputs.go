package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// fieldFlags spells the input fields the libraries name in their errors
// (inputerr.Error.Field) as the flags that set them. The libraries do not
// know the command line; this table is where the two meet. A field
// without a flag (a build spec's key inside --kernel, say) is shown as
// the library names it.
var fieldFlags = map[string]string{
	"kernel":       "--kernel",
	"base":         "--base", // compare's base kernel; build's base config
	"out":          "--out",
	"cache":        "--cache",
	"accel":        "--accel",
	"debug":        "--debug",
	"runner":       "--runner",
	"exec":         "--exec",
	"repeat":       "--repeat",
	"boot timeout": "--boot-timeout",
	"case timeout": "--case-timeout",
	"run timeout":  "--timeout",
	"tree":         "--tree",
	"config":       "--config",
	"patch":        "--patch",
	"shard":        "--shard",
	"kcidb origin": "--kcidb-origin",
	"exit mode":    "--exit-mode",
	"good":         "--good",
	"bad":          "--bad",
}

// describe is err as the command line shows it: the bad input's field
// named by its flag, and what to do where the library could not say it.
func describe(err error) string {
	if _, ok := errors.AsType[*catalog.PatternError](err); ok {
		return caseFlagError(err)
	}
	s := inputerr.Render(err, func(field string) string { return fieldFlags[field] })
	if errors.Is(err, run.ErrEarlierResult) {
		s += " (pass --force)"
	}
	return s
}

// reportErr prints an error and maps it to the exit status: bad input
// (inputerr.ErrBadInput) is 2, anything else 3. The error is one line; a
// failed build adds its first error and its log on lines of their own.
func reportErr(stderr io.Writer, who string, err error) int {
	fmt.Fprintf(stderr, "%s: %s\n", who, describe(err))
	var be *kbuild.Error
	if errors.As(err, &be) {
		if be.First != "" {
			fmt.Fprintf(stderr, "  first error: %s\n", be.First)
		}
		if be.Log != "" {
			fmt.Fprintf(stderr, "  full log: %s\n", be.Log)
		}
	}
	if errors.Is(err, inputerr.ErrBadInput) {
		return exitUsage
	}
	return exitInfra
}

// enumVar defines a flag whose value is one of valid, checked by parse as
// the flags are parsed. *p holds the default; usage is followed by what
// each value means (from help, when it has the value) and the default.
func enumVar[T ~string](fs *flag.FlagSet, p *T, name string, valid []T, parse func(string) (T, error), usage string, help map[T]string) {
	var vs []string
	for _, v := range valid {
		if h := help[v]; h != "" {
			vs = append(vs, fmt.Sprintf("%s (%s)", v, h))
		} else {
			vs = append(vs, string(v))
		}
	}
	usage += ": " + strings.Join(vs, ", ")
	if *p != "" {
		usage += fmt.Sprintf("; default %s", *p)
	}
	fs.Func(name, usage, func(s string) error {
		v, err := parse(s)
		if err != nil {
			return inputerr.OneOf(valid)
		}
		*p = v
		return nil
	})
}

// accelVar defines --accel.
func accelVar(fs *flag.FlagSet, p *qemu.AccelMode) {
	*p = qemu.AccelAuto
	enumVar(fs, p, "accel", qemu.AccelModes, qemu.ParseAccelMode, "accelerator", map[qemu.AccelMode]string{
		qemu.AccelAuto: "KVM only if a test guest really runs under it, else TCG",
	})
}

// debugHelp says what each debug mode makes the guest agent do.
var debugHelp = map[contract.DebugMode]string{
	contract.DebugPanic:    "PID 1 exits",
	contract.DebugHang:     "after the KTAP header",
	contract.DebugSilent:   "no output",
	contract.DebugStall:    "the first case with namespaces or credentials blocks in its proxy",
	contract.DebugDebugcon: "results through the debug port even where a faster channel works",
	contract.DebugUART:     "results through the UART even where a faster channel works",
}

// runnerHelp says what each runner does.
var runnerHelp = map[contract.Runner]string{
	contract.RunnerProxy: "processes sharing the agent's memory",
	contract.RunnerExec:  "re-executing the agent per level; slower, a cross-check",
}
