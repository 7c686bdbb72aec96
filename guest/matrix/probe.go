//go:build linux

package matrix

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
	"github.com/vmtest/vmtest/internal/result"
)

// A Probe asks the kernel one question whose answer tells whether it has a
// feature. Only the exact answer of a kernel that predates the feature
// means "absent"; the answer of a kernel that has it and gets it right
// means "present"; every other answer means the feature is there and
// wrong, so the cases that need it still run (and are judged), and the
// probe's own case fails with what the kernel said.
type Probe struct {
	// ID is the probe's own case.
	ID string
	// Feature is what the answer decides.
	Feature Feature
	// Question is the call, in words.
	Question string
	// Right is the answer of a kernel that has the feature and gets it
	// right (errno 0: a child was created).
	Right unix.Errno
	// Absent is the answer of a kernel without the feature, and Lacks
	// what that answer means, for the reason of unsupported cases.
	Absent unix.Errno
	Lacks  string
	// Needs is what must be present for the question to be asked at all.
	Needs Feature
	// Ask makes the call and returns the kernel's answer.
	Ask func() ProbeAnswer
}

// ProbeAnswer is a kernel's answer to a probe: an errno, or (Errno 0) the
// PID of the child it created.
type ProbeAnswer struct {
	PID   int
	Errno unix.Errno
}

// String renders the answer as the notes and reasons quote it.
func (a ProbeAnswer) String() string {
	if a.Errno == 0 {
		return fmt.Sprintf("success (pid %d)", a.PID)
	}
	return ErrnoName(a.Errno)
}

// Verdict is what a probe's answer says about its feature.
type Verdict int

// The verdicts of Classify.
const (
	Present Verdict = iota // the kernel has the feature and answered right
	Absent                 // the exact answer of a kernel without it
	Wrong                  // the feature is there, and the answer wrong
)

func (v Verdict) String() string {
	return [...]string{"present", "absent", "wrong"}[v]
}

// Classify decides what answer a says about p's feature. It is a pure
// function of the answer, so that every answer a probe can get is
// unit-tested without a kernel that gives it.
func (p Probe) Classify(a ProbeAnswer) Verdict {
	switch a.Errno {
	case p.Right:
		return Present
	case p.Absent:
		return Absent
	}
	return Wrong
}

// Reason is the reason of a case that cannot run because a, p's answer,
// said the feature is absent: it quotes the kernel.
func (p Probe) Reason(a ProbeAnswer) string {
	return fmt.Sprintf("%s: %s answered %s", p.Lacks, p.Question, a)
}

// Probes are the feature probes, in the order they are asked.
var Probes = []Probe{
	{
		ID: "clone3/probe/clone3", Feature: Clone3,
		Question: "clone3 with a VER0 struct and exit_signal SIGCHLD",
		Right:    0, Absent: unix.ENOSYS, Lacks: "kernel has no clone3",
		Ask: func() ProbeAnswer {
			a := clone3.Args{Flags: clone3.ChildFlags, ExitSignal: uint64(unix.SIGCHLD)}
			return reaped(clone3.Call(&a, clone3.SizeVer0, nil))
		},
	},
	{
		// PID 1 is the agent, so a kernel that understands set_tid
		// answers EEXIST (after checking privilege, range and levels)
		// without creating anything; one that predates the field sees
		// non-zero bytes past the VER0 struct it knows and answers E2BIG.
		ID: "set_tid/probe/set_tid", Feature: SetTID, Needs: Clone3,
		Question: "clone3 with a VER1 struct and set_tid [1] in the initial PID namespace",
		Right:    unix.EEXIST, Absent: unix.E2BIG, Lacks: "kernel has no clone3 set_tid",
		Ask: func() ProbeAnswer {
			one := clone3.HeapInt32s([]int32{1})
			a := clone3.Args{Flags: clone3.ChildFlags, ExitSignal: uint64(unix.SIGCHLD), SetTID: clone3.PtrTo(one), SetTIDSize: 1}
			ans := reaped(clone3.Call(&a, clone3.SizeVer1, nil))
			runtime.KeepAlive(one)
			return ans
		},
	},
	{
		// Before 5.5 clone3_args_valid refused every flag above the
		// legacy 32 bits as unknown, with EINVAL.
		ID: "clone3/probe/clear_sighand", Feature: ClearSighand, Needs: Clone3,
		Question: "clone3 with CLONE_CLEAR_SIGHAND",
		Right:    0, Absent: unix.EINVAL, Lacks: "kernel has no CLONE_CLEAR_SIGHAND",
		Ask: func() ProbeAnswer {
			a := clone3.Args{Flags: unix.CLONE_CLEAR_SIGHAND | clone3.ChildFlags, ExitSignal: uint64(unix.SIGCHLD)}
			return reaped(clone3.Call(&a, clone3.SizeVer0, nil))
		},
	},
}

// reaped turns clone3's return into an answer, reaping a child it made.
func reaped(pid int, e unix.Errno) ProbeAnswer {
	if e == 0 {
		clone3.WaitExit(pid)
	}
	return ProbeAnswer{PID: pid, Errno: e}
}

// ProbeResult is what the probes found: the features present (right or
// wrong), why each absent one is absent, and one note per probe.
type ProbeResult struct {
	Features Feature
	Why      map[Feature]string
	Notes    []string
}

// ClassifyAll folds the probes' answers into features: ask is called for
// each probe whose prerequisites are present. The features the agent
// finds without a system call of this kind (namespaces, capabilities) are
// given in base.
func ClassifyAll(base Feature, ask func(Probe) ProbeAnswer) ProbeResult {
	r := ProbeResult{Features: base, Why: map[Feature]string{}}
	for _, p := range Probes {
		if r.Features&p.Needs != p.Needs {
			r.Notes = append(r.Notes, fmt.Sprintf("%s: not asked (%s absent)", p.Question, (p.Needs&^r.Features).String()))
			if w, ok := r.Why[p.Needs&^r.Features]; ok {
				r.Why[p.Feature] = w
			}
			continue
		}
		a := ask(p)
		v := p.Classify(a)
		r.Notes = append(r.Notes, fmt.Sprintf("%s: %s (%s)", p.Question, a, v))
		if v == Absent {
			r.Why[p.Feature] = p.Reason(a)
			continue
		}
		r.Features |= p.Feature
	}
	return r
}

// probeCase is a probe as a case of its own: it asks again and passes on
// the right answer only. A kernel whose answer says "absent" never runs
// it (it needs the feature), so a run on such a kernel shows it as
// unsupported or skipped with the kernel's answer, like the cases that
// need the feature; a wrong answer fails it, while those cases still run.
func probeCase(p Probe) Case {
	right := "success"
	if p.Right != 0 {
		right = ErrnoName(p.Right)
	}
	return Case{
		ID: p.ID, Rule: p.Question + " → " + right + " (a kernel without the feature: " + ErrnoName(p.Absent) + ")",
		Expect: right, Needs: p.Needs | p.Feature,
		Run: func(t *T) {
			a := p.Ask()
			got, want := result.Answer{PID: a.PID}, result.Answer{}
			if a.Errno != 0 {
				got = Errno(a.Errno)
			}
			if p.Right != 0 {
				want = Errno(p.Right)
			}
			if p.Classify(a) != Present {
				t.Fail(want, got, fmt.Sprintf("%s answered %s: the feature is there and wrong (%s is the answer of a kernel without it, %s the right one)", p.Question, a, ErrnoName(p.Absent), right))
				return
			}
			t.Check(want, got)
		},
	}
}

func probeCases() []Case {
	var cs []Case
	for _, p := range Probes {
		cs = append(cs, probeCase(p))
	}
	return cs
}
