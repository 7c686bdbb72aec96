// Package result defines what one matrix case reports. The guest agent fills
// it in, encodes it into the KTAP stream, and the host decodes it into
// result.json; keeping one definition makes the two ends agree by
// construction.
package result

import (
	"fmt"
	"strings"
)

// Outcome is the verdict for one case.
type Outcome string

// The outcomes. Only Fail and Error make a run fail: Skip (the kernel lacks
// a namespace type the case needs) and Unsupported (the kernel lacks clone3
// or set_tid) describe the kernel, not a defect in it.
const (
	Pass        Outcome = "pass"
	Fail        Outcome = "fail"
	Skip        Outcome = "skip"
	Unsupported Outcome = "unsupported"
	Error       Outcome = "error"
)

// Valid reports whether o is one of the defined outcomes.
func (o Outcome) Valid() bool {
	switch o {
	case Pass, Fail, Skip, Unsupported, Error:
		return true
	}
	return false
}

// Answer is what a clone3 call answered, or what a case expects it to.
// Exactly one of Errno and PID is meaningful: Errno "" means success.
type Answer struct {
	// Errno is the symbolic error name ("EINVAL"), empty on success.
	Errno string `json:"errno,omitempty"`
	// PID is the new child's PID in the caller's namespace; 0 = any.
	PID int `json:"pid,omitempty"`
	// NSpid is the child's PID per namespace, innermost (the child's own)
	// first, the order of set_tid. 0 entries in an expectation mean any.
	NSpid []int `json:"nspid,omitempty"`
	// Note carries free-form detail for answers that are not a single call
	// (a race count, a sequence of calls).
	Note string `json:"note,omitempty"`
}

// String renders the answer for tables: "EINVAL", "pid 300 nspid [300 7]".
func (a Answer) String() string {
	var parts []string
	switch {
	case a.Errno != "":
		parts = append(parts, a.Errno)
	case a.PID != 0 || len(a.NSpid) > 0:
		s := "pid "
		if a.PID == 0 {
			s += "*"
		} else {
			s += fmt.Sprint(a.PID)
		}
		if len(a.NSpid) > 0 {
			var ns []string
			for _, p := range a.NSpid {
				if p == 0 {
					ns = append(ns, "*")
				} else {
					ns = append(ns, fmt.Sprint(p))
				}
			}
			s += " nspid [" + strings.Join(ns, " ") + "]"
		}
		parts = append(parts, s)
	}
	if a.Note != "" {
		parts = append(parts, a.Note)
	}
	if len(parts) == 0 {
		return "success"
	}
	return strings.Join(parts, "; ")
}

// Matches reports whether got satisfies the expectation a: same errno, or
// success with every specified PID equal; a note, when the expectation has
// one, must be equal too.
func (a Answer) Matches(got Answer) bool {
	if a.Errno != got.Errno {
		return false
	}
	if a.Note != "" && a.Note != got.Note {
		return false
	}
	if a.Errno != "" {
		return true
	}
	if a.PID != 0 && a.PID != got.PID {
		return false
	}
	if len(a.NSpid) > 0 {
		if len(got.NSpid) != len(a.NSpid) {
			return false
		}
		for i, p := range a.NSpid {
			if p != 0 && p != got.NSpid[i] {
				return false
			}
		}
	}
	return true
}

// Case is the report of one matrix case.
type Case struct {
	ID       string  `json:"id"`
	Group    string  `json:"group,omitempty"`
	Rule     string  `json:"rule,omitempty"`
	Outcome  Outcome `json:"outcome"`
	Expected *Answer `json:"expected,omitempty"`
	Observed *Answer `json:"observed,omitempty"`
	// Reason says why a case did not pass, or why it was skipped.
	Reason string `json:"reason,omitempty"`
	// Info is reported but never judged (e.g. ns_last_pid race counts).
	Info       string  `json:"info,omitempty"`
	DurationMS float64 `json:"duration_ms"`
}

// KernelReportPrefix and KernelReportSuffix frame the reason of a case
// charged with a kernel WARNING or BUG it survived ("the kernel reported
// WARNING: at kernel/fork.c:2953 copy_clone_args_from_user while this case
// ran ..."): the agent writes it, the host reads the title back.
const (
	KernelReportPrefix = "the kernel reported "
	KernelReportSuffix = " while this case ran"
)

// KernelReport returns the kernel report titles a case was charged with
// ("" when none).
func (c Case) KernelReport() string {
	rest, ok := strings.CutPrefix(c.Reason, KernelReportPrefix)
	if !ok || c.Outcome != Error {
		return ""
	}
	title, _, ok := strings.Cut(rest, KernelReportSuffix)
	if !ok {
		return ""
	}
	return title
}

// Failed reports whether the outcome makes a run fail.
func (o Outcome) Failed() bool { return o == Fail || o == Error }
