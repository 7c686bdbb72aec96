package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// TestEnumFlags: --accel, --debug and --runner take exactly the values
// their packages define, list every one in their help, and refuse others
// with the valid ones.
func TestEnumFlags(t *testing.T) {
	for m := range debugHelp {
		if _, err := contract.ParseDebugMode(string(m)); err != nil {
			t.Errorf("debugHelp describes %q, which is no debug mode", m)
		}
	}
	for _, m := range contract.DebugModes {
		if debugHelp[m] == "" {
			t.Errorf("debug mode %q has no help", m)
		}
	}
	for _, r := range contract.Runners {
		if runnerHelp[r] == "" {
			t.Errorf("runner %q has no help", r)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var accel qemu.AccelMode
	var debug contract.DebugMode
	runner := contract.RunnerProxy
	accelVar(fs, &accel)
	enumVar(fs, &debug, "debug", contract.DebugModes, contract.ParseDebugMode, "misbehave", debugHelp)
	enumVar(fs, &runner, "runner", contract.Runners, contract.ParseRunner, "namespaces", runnerHelp)
	if accel != qemu.AccelAuto || debug != contract.DebugNone || runner != contract.RunnerProxy {
		t.Errorf("defaults %q %q %q", accel, debug, runner)
	}
	for name, valid := range map[string][]string{
		"accel":  {"auto", "kvm", "tcg"},
		"debug":  {"panic", "hang", "silent", "stall", "debugcon", "uart"},
		"runner": {"proxy", "exec"},
	} {
		usage := fs.Lookup(name).Usage
		for _, v := range valid {
			if !strings.Contains(usage, v) {
				t.Errorf("--%s's help lacks %s: %s", name, v, usage)
			}
		}
	}
	if err := fs.Parse([]string{"--accel", "tcg", "--debug", "stall", "--runner", "exec"}); err != nil {
		t.Fatal(err)
	}
	if accel != qemu.AccelTCG || debug != contract.DebugStall || runner != contract.RunnerExec {
		t.Errorf("parsed %q %q %q", accel, debug, runner)
	}
	for _, tt := range []struct{ arg, want string }{
		{"--accel=hvf", `--accel "hvf": want auto, kvm or tcg`},
		{"--runner=fork", `--runner "fork": want proxy or exec`},
		{"--debug=crash", `--debug "crash": want panic, hang, silent, stall, debugcon or uart`},
	} {
		if got := flagMessage(fs.Parse([]string{tt.arg})); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.arg, got, tt.want)
		}
	}
}

// TestReportErr: bad input is exit 2 with its field spelled as the flag;
// a failed build is exit 3, one line and then its first error and log.
func TestReportErr(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		code int
		want string
	}{
		{"bad input", inputerr.Errorf("cache", "/c", "is a file, not a directory"), exitUsage, "x: --cache /c: is a file, not a directory\n"},
		{"wrapped bad input", fmt.Errorf("repeat 1 of 2: %w", inputerr.Errorf("run timeout", "-1s", "must be positive")), exitUsage, "x: repeat 1 of 2: --timeout -1s: must be positive\n"},
		{"a field without a flag", inputerr.Errorf("agent", "/a", "is not static"), exitUsage, "x: agent /a: is not static\n"},
		{"failed build", &kbuild.Error{Step: "make bzImage", Err: errors.New("exit status 2"), First: "fork.c:1: error: x", Log: "/c/build.log"}, exitInfra,
			"x: make bzImage failed: exit status 2\n  first error: fork.c:1: error: x\n  full log: /c/build.log\n"},
		{"anything else", errors.New("boom"), exitInfra, "x: boom\n"},
	} {
		var b strings.Builder
		if code := reportErr(&b, "x", tt.err); code != tt.code || b.String() != tt.want {
			t.Errorf("%s: exit %d, printed %q; want %d, %q", tt.name, code, b.String(), tt.code, tt.want)
		}
	}
}
