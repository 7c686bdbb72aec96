package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// exitMode is how run and compare spell their outcome as an exit status.
type exitMode string

// The exit modes.
const (
	// modeDefault is vmtest's own convention: 0 pass, 1 failures or
	// regressions, 2 bad input, 3 infrastructure, 130 interrupted.
	modeDefault exitMode = "default"
	// modeBisect is git bisect run's: 0 good, 1 bad, 125 skip (this
	// commit cannot be judged), and above 127 to abort the bisection.
	modeBisect exitMode = "bisect"
)

// The statuses of --exit-mode bisect that are not vmtest's own.
const (
	// bisectSkip is what git bisect run takes for "cannot test this
	// commit": a failed build, a VM that never ran the cases.
	bisectSkip = 125
	// bisectAbort ends git bisect run (any status above 127 does): bad
	// input is the same at every commit, so bisecting on would only
	// repeat it. 128 is what git's own fatal errors exit with.
	bisectAbort = 128
)

var exitModes = []exitMode{modeDefault, modeBisect}

// exitModeVar defines --exit-mode on fs.
func exitModeVar(fs *flag.FlagSet, p *exitMode) {
	*p = modeDefault
	enumVar(fs, p, "exit-mode", exitModes, parseExitMode, "exit status convention", map[exitMode]string{
		modeDefault: "0 pass, 1 failed or regressed, 2 bad input, 3 infrastructure, 130 interrupted",
		modeBisect:  "for git bisect run: 0 good, 1 bad, 125 skip for a failed build or infrastructure error, 128 bad input, 130 interrupted",
	})
}

func parseExitMode(s string) (exitMode, error) {
	for _, m := range exitModes {
		if string(m) == s {
			return m, nil
		}
	}
	return "", inputerr.OneOf(exitModes)
}

// status maps a default-mode exit status to the mode's, saying on
// stderr what a changed status means. res is the run's result when one
// finished (nil for compare, or when none did).
func (m exitMode) status(code int, res *run.Result, stderr io.Writer) int {
	if m != modeBisect {
		return code
	}
	b := bisectStatus(code, res)
	if b != code {
		fmt.Fprintf(stderr, "vmtest: --exit-mode bisect: exit %d (%s)\n", b, bisectMeaning(b))
	}
	return b
}

// bisectStatus is git bisect run's reading of a default-mode status.
// Failed cases are bad (1). A kernel that crashed while the cases ran
// is bad too: the crash is the kernel's doing, what a bisection hunts.
// Every other infrastructure failure (3: a failed build, a boot
// timeout, QEMU failing, a crash before any case ran) says nothing
// about the commit, so it is a skip (125). Bad input (2) aborts (128),
// as does an interrupt (130, above 127 already).
func bisectStatus(code int, res *run.Result) int {
	switch code {
	case exitOK, exitFailed, exitInterrupted:
		return code
	case exitUsage:
		return bisectAbort
	case exitInfra:
		if res != nil && res.Status == run.Crashed && casesRan(res) {
			return exitFailed
		}
		return bisectSkip
	}
	return bisectAbort
}

// casesRan reports whether the guest reported any case before the run
// ended (run.finish fills in the rest as "not run").
func casesRan(res *run.Result) bool {
	for _, c := range res.Cases {
		if !strings.HasPrefix(c.Reason, "not run: ") {
			return true
		}
	}
	return false
}

func bisectMeaning(code int) string {
	switch code {
	case exitOK:
		return "good"
	case exitFailed:
		return "bad"
	case bisectSkip:
		return "skip: this commit cannot be judged"
	case exitInterrupted:
		return "interrupted: abort the bisection"
	}
	return "abort the bisection"
}
