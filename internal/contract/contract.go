// Package contract is everything the host and the guest agent of vmtest must
// agree on, defined once: the kernel parameters the host passes and the agent
// reads, the devices' I/O ports and PCI IDs, the guest's paths and terminal
// names, the modes of the agent's debug and runner switches, and the
// argument with which the agent re-executes itself.
//
// Both sides import this package and nothing of each other. It holds values
// and their parsers only, so it builds for every GOOS and GOARCH.
package contract

import (
	"fmt"
	"strings"
	"time"
)

// Kernel command-line parameters the host sets and the agent reads.
const (
	// ParamResults names the tty of the UART result channel, e.g. ttyS1.
	ParamResults = "vmtest.results"
	// ParamCases holds comma-separated case ID globs.
	ParamCases = "vmtest.case"
	// ParamCaseTimeout is the per-case limit, a Go duration.
	ParamCaseTimeout = "vmtest.case_timeout"
	// ParamDebug is a DebugMode: it makes the agent misbehave on purpose,
	// to test the host's failure handling and the fallback channels.
	ParamDebug = "vmtest.debug"
	// ParamJobs is how many cases run at once (default: one per vCPU).
	ParamJobs = "vmtest.jobs"
	// ParamExec set to 1 runs the programs in ExecDir instead of the matrix.
	ParamExec = "vmtest.exec"
	// ParamRunner is a Runner: how cases get their namespaces.
	ParamRunner = "vmtest.runner"
	// ParamShard is K/N: run only slice K of N of the selected cases, cut
	// by internal/catalog's Shard.Pick on both sides.
	ParamShard = "vmtest.shard"
)

// The guest's serial ports. QEMU's first UART is the kernel console; the
// second carries results when neither faster channel is there.
const (
	ConsoleTTY = "ttyS0"
	ResultsTTY = "ttyS1"
)

// I/O ports of the ISA devices the host adds to every VM.
const (
	// DebugExitPort is isa-debug-exit: a write ends QEMU at once, which
	// works on kernels without ACPI power-off.
	DebugExitPort = 0xf4
	// DebugconPort is isa-debugcon (the Bochs "port e9 hack"): the
	// fallback result channel, one OUT per byte.
	DebugconPort = 0xe9
)

// PCI IDs of the ivshmem-plain device that carries the shared-memory result
// channel (Red Hat's virtio vendor ID, QEMU's ivshmem device), as sysfs
// prints them.
const (
	IvshmemVendorID = "0x1af4"
	IvshmemDeviceID = "0x1110"
)

// ResultsShmSize is the size of the shared-memory result region (ivshmem
// wants a power of two). The matrix writes about 14 KiB; the rest is room
// for many more cases and long reasons. The host's file is sparse: only
// what the guest writes takes space.
const ResultsShmSize = 16 << 20

// Paths inside the guest.
const (
	// ExecDir holds the extra programs of exec mode; the host's initramfs
	// carries them there.
	ExecDir = "/exec"
	// RootProc is a second procfs of the initial PID namespace, which
	// stays visible when case processes mount their own on /proc.
	RootProc = "/rootproc"
)

// CaseArg is argv[1] of a case process: the agent re-executes itself with it
// once per case and once more per namespace level of the case's setup.
const CaseArg = "__vmtest-case"

// DefaultCaseTimeout is the agent's per-case limit when the host sets none.
const DefaultCaseTimeout = 60 * time.Second

// Runner is how the agent gives a case its namespaces and credentials.
type Runner string

// The runners.
const (
	// RunnerProxy uses proxy processes that share the agent's memory.
	RunnerProxy Runner = "proxy"
	// RunnerExec re-executes the agent once per namespace level: slower,
	// a cross-check of the proxies.
	RunnerExec Runner = "exec"
)

// Runners lists the valid runners, default first.
var Runners = []Runner{RunnerProxy, RunnerExec}

// ParseRunner checks a runner name; empty means the default.
func ParseRunner(s string) (Runner, error) {
	if s == "" {
		return RunnerProxy, nil
	}
	for _, r := range Runners {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("runner %q is not one of %s", s, join(Runners))
}

// DebugMode makes the agent misbehave on purpose, so that tests can check
// how the host handles each failure and each fallback channel.
type DebugMode string

// The debug modes.
const (
	// DebugNone is normal operation.
	DebugNone DebugMode = ""
	// DebugPanic makes the agent exit, which panics the kernel.
	DebugPanic DebugMode = "panic"
	// DebugHang makes the agent hang before its first case.
	DebugHang DebugMode = "hang"
	// DebugSilent makes the agent hang without writing a KTAP header.
	DebugSilent DebugMode = "silent"
	// DebugStall makes the first case with a setup stall forever.
	DebugStall DebugMode = "stall"
	// DebugDebugcon forces the debug-port result channel.
	DebugDebugcon DebugMode = "debugcon"
	// DebugUART forces the UART result channel.
	DebugUART DebugMode = "uart"
)

// DebugModes lists the valid debug modes after DebugNone.
var DebugModes = []DebugMode{DebugPanic, DebugHang, DebugSilent, DebugStall, DebugDebugcon, DebugUART}

// ParseDebugMode checks a debug mode name; empty is DebugNone.
func ParseDebugMode(s string) (DebugMode, error) {
	if s == "" {
		return DebugNone, nil
	}
	for _, m := range DebugModes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", fmt.Errorf("debug mode %q is not one of %s", s, join(DebugModes))
}

func join[T ~string](vs []T) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// Keys of the KTAP info lines ("# vmtest.KEY: VALUE") the agent writes
// before and after the cases. The host keeps them all in result.json's
// guest map; these are the ones either side relies on.
const (
	InfoKernel      = "kernel"        // uname release and version
	InfoFeatures    = "features"      // probed features, comma-separated
	InfoPidMax      = "pid_max"       // the initial namespace's pid_max
	InfoProbe       = "probe"         // one line per feature probe
	InfoRunner      = "runner"        // the Runner the cases ran with
	InfoChannel     = "channel"       // the result channel the agent chose
	InfoCPUs        = "cpus"          // vCPUs the guest sees
	InfoJobs        = "jobs"          // cases run at once
	InfoError       = "error"         // why the agent could not run the matrix
	InfoCasesRunMS  = "cases_run_ms"  // summed case bodies with their setup
	InfoEmitMS      = "emit_ms"       // time spent writing results
	InfoSetupMS     = "setup_ms"      // time spent building proxy chains
	InfoCasesWallMS = "cases_wall_ms" // the matrix's guest wall time
	InfoCasesDoneMS = "cases_done_ms" // when the last case finished, from the start
	// InfoExecPrefix prefixes the key of each exec-mode program: its exit
	// status and time.
	InfoExecPrefix = "exec."
	// InfoExecTotalMS is the exec-mode programs' total time.
	InfoExecTotalMS = InfoExecPrefix + "total_ms"
)
