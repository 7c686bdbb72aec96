//go:build linux

// Package matrix is the clone3() set_tid conformance matrix: a table of named
// cases, each checking one rule of kernel/fork.c copy_clone_args_from_user or
// kernel/pid.c alloc_pid against the kernel's exact answer.
//
// A case declares its setup (nested PID namespaces, user namespaces,
// credentials) as data; the guest agent builds that setup afresh for every
// case (out of proxy processes, or by re-executing itself once per level
// with --runner exec), so the case body always starts in a fresh process
// tree with exactly the namespaces and credentials it asked for. The body
// then makes raw clone3 calls through T and compares the answer with the
// expectation. Cases live in one file per group (cases_*.go).
package matrix

import (
	"slices"

	"github.com/vmtest/vmtest/internal/catalog"
)

// The case metadata types are the catalog's (internal/catalog), which the
// host reads without this package's bodies.
type (
	// Feature is a set of kernel capabilities a case depends on.
	Feature = catalog.Feature
	// Level is one PID namespace of a case's setup.
	Level = catalog.Level
	// Setup describes the process a case body runs in.
	Setup = catalog.Setup
	// Cap is a Linux capability number.
	Cap = catalog.Cap
)

// The features, under short names for the case tables.
const (
	Clone3               = catalog.Clone3
	SetTID               = catalog.SetTID
	PIDNS                = catalog.PIDNS
	UserNS               = catalog.UserNS
	CheckpointRestoreCap = catalog.CheckpointRestoreCap
	ClearSighand         = catalog.ClearSighand
	Cgroup2              = catalog.Cgroup2
)

// The capabilities, under short names for the case tables.
const (
	CapSysAdmin          = catalog.CapSysAdmin
	CapCheckpointRestore = catalog.CapCheckpointRestore
)

// Missing explains why a kernel with features have cannot run a case that
// needs need, and whether that makes the case unsupported (the kernel lacks
// clone3 or set_tid, the subject of the matrix) rather than skipped (the
// kernel lacks a namespace type, a flag or a capability the setup needs).
// why holds, for each absent feature a probe decided, the reason quoting
// the kernel's answer (ProbeResult.Why); without one the reason names the
// answer a kernel without the feature gives.
func Missing(need, have Feature, why map[Feature]string) (reason string, unsupported bool) {
	miss := need &^ have
	switch {
	case miss == 0:
		return "", false
	case miss&Clone3 != 0:
		return whyOr(why, Clone3, "kernel has no clone3 (ENOSYS)"), true
	case miss&SetTID != 0:
		return whyOr(why, SetTID, "kernel has no clone3 set_tid (E2BIG for a VER1 struct with set_tid set)"), true
	case miss&ClearSighand != 0:
		return whyOr(why, ClearSighand, "kernel lacks clear_sighand"), false
	default:
		return "kernel lacks " + miss.String(), false
	}
}

func whyOr(why map[Feature]string, f Feature, dflt string) string {
	if w := why[f]; w != "" {
		return w
	}
	return dflt
}

// Case is one entry of the matrix.
type Case struct {
	// ID is stable across releases: results are compared by it.
	ID string
	// Group is the case group (the ID's second component).
	Group string
	// Rule is the kernel rule the case checks, in one line.
	Rule string
	// Expect is the expected answer in words (PIDs are chosen at run time
	// from pid_max and free PIDs, so the listing names them symbolically).
	Expect string
	// Needs lists the kernel features without which the case cannot run.
	Needs Feature
	// Setup is built by the agent before Run starts.
	Setup Setup
	// Exclusive cases run alone, after the others: they measure races and
	// need every vCPU and a quiet PID allocator.
	Exclusive bool
	// Serial cases run one after another on the first worker, beside the
	// ordinary cases but never beside each other. They create and tear
	// down dozens of nested PID namespaces, whose fork and exit paths
	// serialise on kernel-wide locks (tasklist_lock, pidmap_lock): two of
	// them side by side mostly wait for each other, and under TCG a vCPU
	// spinning on a lock whose holder's host thread is descheduled burns
	// its whole time slice.
	Serial bool
	// Run is the case body. Its system calls come from the processes of
	// its setup (or, without one, from a locked thread of the agent).
	Run func(t *T)
}

// Info is the case without its body, as the catalog lists it.
func (c Case) Info() catalog.Info {
	return catalog.Info{ID: c.ID, Group: c.Group, Rule: c.Rule, Expect: c.Expect, Needs: c.Needs,
		Setup: c.Setup, Exclusive: c.Exclusive, Serial: c.Serial}
}

// groups is the whole matrix in one place: every group in run order
// (catalog.Groups) with the tables of its cases, each table in the file of
// its subject.
var groups = []struct {
	name   string
	tables []func() []Case
}{
	{"probe", []func() []Case{probeCases}},
	{"plain", []func() []Case{cgroupPlainCases, plainCases}},
	{"args", []func() []Case{argsCases}},
	{"pid", []func() []Case{pidCases}},
	{"nested", []func() []Case{nestedCases, nestedValueCases}},
	{"lifecycle", []func() []Case{lifecycleCases}},
	{"setns", []func() []Case{setnsCases}},
	{"userns", []func() []Case{usernsCases}},
	{"hygiene", []func() []Case{cgroupHygieneCases, hygieneCases}},
	{"concurrency", []func() []Case{concurrencyCases}},
	{"threads", []func() []Case{threadCases}},
}

// all is the matrix in run order, built once.
var all = func() []Case {
	var out []Case
	for _, g := range groups {
		for _, table := range g.tables {
			for _, c := range table() {
				c.Group = g.name
				out = append(out, c)
			}
		}
	}
	return out
}()

// All returns every case, ordered by group then definition order.
func All() []Case { return slices.Clone(all) }

// Lookup finds a case by ID.
func Lookup(id string) (Case, bool) {
	i := slices.IndexFunc(all, func(c Case) bool { return c.ID == id })
	if i < 0 {
		return Case{}, false
	}
	return all[i], true
}

// Select returns the cases whose ID matches any of the patterns
// (catalog.SelectFrom), in matrix order.
func Select(patterns []string) ([]Case, error) {
	return catalog.SelectFrom(all, func(c Case) string { return c.ID }, patterns)
}

// Infos returns every case's catalog entry, in run order.
func Infos() []catalog.Info {
	out := make([]catalog.Info, len(all))
	for i, c := range all {
		out[i] = c.Info()
	}
	return out
}
