package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/result"
)

func TestBisectStatus(t *testing.T) {
	ran := []result.Case{{ID: "a", Outcome: result.Pass}, {ID: "b", Outcome: result.Error, Reason: "not run: crashed"}}
	notRan := []result.Case{{ID: "a", Outcome: result.Error, Reason: "not run: crashed"}}
	for _, tc := range []struct {
		name string
		code int
		res  *run.Result
		want int
	}{
		{"pass is good", exitOK, &run.Result{Status: run.Completed}, 0},
		{"failed cases are bad", exitFailed, &run.Result{Status: run.Completed}, 1},
		{"a regression is bad", exitFailed, nil, 1},
		{"bad input aborts", exitUsage, nil, bisectAbort},
		{"a failed build skips", exitInfra, nil, bisectSkip},
		{"a boot timeout skips", exitInfra, &run.Result{Status: run.BootTimeout}, bisectSkip},
		{"QEMU failing skips", exitInfra, &run.Result{Status: run.QEMUFailed}, bisectSkip},
		{"a stalled case skips", exitInfra, &run.Result{Status: run.CaseTimeout, Cases: ran}, bisectSkip},
		{"a crash while cases ran is bad", exitInfra, &run.Result{Status: run.Crashed, Cases: ran}, 1},
		{"a crash before any case skips", exitInfra, &run.Result{Status: run.Crashed, Cases: notRan}, bisectSkip},
		{"interrupted aborts", exitInterrupted, &run.Result{Status: run.Interrupted}, exitInterrupted},
		{"an unknown status aborts", 42, nil, bisectAbort},
	} {
		if got := bisectStatus(tc.code, tc.res); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
		// Every status is one git bisect run reads as intended: a skip,
		// good, bad (1-127) or an abort (above 127).
		if got := bisectStatus(tc.code, tc.res); got != 0 && got != 1 && got != bisectSkip && got <= 127 {
			t.Errorf("%s: %d is ambiguous to git bisect run", tc.name, got)
		}
	}
}

// TestExitModeCLI: --exit-mode reaches run and compare, the default mode
// keeps vmtest's own statuses, and bisect mode says what it changed.
func TestExitModeCLI(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"run", "--kernel", "/nonexistent/bzImage"}, exitUsage, "--kernel"},
		{[]string{"run", "--exit-mode", "bisect", "--kernel", "/nonexistent/bzImage"}, bisectAbort, "--exit-mode bisect: exit 128 (abort the bisection)"},
		{[]string{"compare", "--exit-mode", "bisect", "--base", "/nonexistent/bzImage", "--kernel", "/nonexistent/bzImage"}, bisectAbort, "exit 128"},
		{[]string{"run", "--exit-mode", "sideways"}, exitUsage, "--exit-mode"},
		{[]string{"bisect", "--exit-mode", "bisect", "--tree", "."}, exitUsage, "vmtest bisect runs every step with --exit-mode bisect itself"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Main(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, stderr.String(), tc.code, tc.stderr)
		}
	}
}
