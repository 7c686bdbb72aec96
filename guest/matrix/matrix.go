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
	"fmt"
	"path"
	"sort"
	"strings"
)

// Feature is a kernel capability a case depends on.
type Feature uint

// The features the agent probes once per boot.
const (
	// Clone3 is the clone3 system call itself (Linux 5.3).
	Clone3 Feature = 1 << iota
	// SetTID is clone_args.set_tid (Linux 5.5).
	SetTID
	// PIDNS is CONFIG_PID_NS.
	PIDNS
	// UserNS is CONFIG_USER_NS.
	UserNS
	// CheckpointRestoreCap is CAP_CHECKPOINT_RESTORE (Linux 5.9).
	CheckpointRestoreCap
	// ClearSighand is CLONE_CLEAR_SIGHAND (Linux 5.5).
	ClearSighand
	// Cgroup2 is the cgroup2 file system (CONFIG_CGROUPS), which
	// CLONE_INTO_CGROUP needs to do more than check its arguments.
	Cgroup2
)

var featureNames = []struct {
	f    Feature
	name string
}{
	{Clone3, "clone3"},
	{SetTID, "set_tid"},
	{PIDNS, "pid_ns"},
	{UserNS, "user_ns"},
	{CheckpointRestoreCap, "cap_checkpoint_restore"},
	{ClearSighand, "clear_sighand"},
	{Cgroup2, "cgroup2"},
}

// String lists the features by name, comma-separated.
func (f Feature) String() string {
	var names []string
	for _, fn := range featureNames {
		if f&fn.f != 0 {
			names = append(names, fn.name)
		}
	}
	return strings.Join(names, ",")
}

// ParseFeatures is the inverse of Feature.String.
func ParseFeatures(s string) (Feature, error) {
	var f Feature
	for _, name := range strings.Split(s, ",") {
		if name == "" {
			continue
		}
		found := false
		for _, fn := range featureNames {
			if fn.name == name {
				f |= fn.f
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown feature %q", name)
		}
	}
	return f, nil
}

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

// Level is one PID namespace of a case's setup.
type Level struct {
	// UserNS also creates a user namespace at this level, which then owns
	// the level's PID namespace and every one created below it.
	UserNS bool
}

// Setup describes the process a case body runs in.
type Setup struct {
	// Levels are nested PID namespaces, outermost first. The body runs as
	// PID 1 of the innermost one; with no levels it runs in the initial
	// namespaces.
	Levels []Level
	// UID, when non-zero, is the user ID the body runs as (in its own user
	// namespace). Switching to a non-zero UID drops all capabilities except
	// AmbientCaps.
	UID int
	// AmbientCaps are capabilities kept across the switch to UID.
	AmbientCaps []uintptr
	// DropCaps are removed from the effective and permitted sets of the
	// body's thread before it runs (used to run as uid 0 without them).
	DropCaps []uintptr
	// KeepOnlyCaps, when non-empty, makes the body's thread keep exactly
	// these capabilities.
	KeepOnlyCaps []uintptr
	// OwnProcess makes the body's calls come from a process of its own
	// even without namespaces or credentials to set up: the agent is PID 1
	// of the initial namespace, and a case about "the caller's own PID"
	// must not collapse into the case about PID 1.
	OwnProcess bool
}

// Depth is the PID namespace level the body runs at (0 = initial).
func (s Setup) Depth() int { return len(s.Levels) }

// Describe renders the setup for listings.
func (s Setup) Describe() string {
	var parts []string
	if n := len(s.Levels); n > 0 {
		u := 0
		for _, l := range s.Levels {
			if l.UserNS {
				u++
			}
		}
		d := fmt.Sprintf("pidns depth %d", n)
		if u > 0 {
			var at []string
			for i, l := range s.Levels {
				if l.UserNS {
					at = append(at, fmt.Sprint(i+1))
				}
			}
			d += " (userns at level " + strings.Join(at, ",") + ")"
		}
		parts = append(parts, d)
	}
	if s.UID != 0 {
		parts = append(parts, fmt.Sprintf("uid %d", s.UID))
	} else {
		parts = append(parts, "uid 0")
	}
	if len(s.AmbientCaps) > 0 {
		parts = append(parts, "caps "+capNames(s.AmbientCaps))
	}
	if len(s.KeepOnlyCaps) > 0 {
		parts = append(parts, "only "+capNames(s.KeepOnlyCaps))
	}
	if len(s.DropCaps) > 0 {
		parts = append(parts, "without "+capNames(s.DropCaps))
	}
	if s.OwnProcess {
		parts = append(parts, "own process")
	}
	return strings.Join(parts, ", ")
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

var registry []Case

// register adds cases to the matrix; each cases_*.go file calls it from init.
func register(group string, cs ...Case) {
	for _, c := range cs {
		c.Group = group
		registry = append(registry, c)
	}
}

// All returns every case, ordered by group then definition order.
func All() []Case {
	out := append([]Case(nil), registry...)
	sort.SliceStable(out, func(i, j int) bool { return groupRank(out[i].Group) < groupRank(out[j].Group) })
	return out
}

// Groups are the case groups, in run order.
var Groups = []string{"probe", "plain", "args", "pid", "nested", "lifecycle", "setns", "userns", "hygiene", "concurrency", "threads"}

func groupRank(g string) int {
	for i, x := range Groups {
		if x == g {
			return i
		}
	}
	return len(Groups)
}

// Lookup finds a case by ID.
func Lookup(id string) (Case, bool) {
	for _, c := range registry {
		if c.ID == id {
			return c, true
		}
	}
	return Case{}, false
}

// Select returns the cases whose ID matches any of the shell globs (as in
// path.Match, where '*' does not cross '/'; a trailing "/**" or a bare
// prefix ending in '/' matches a whole subtree). An empty pattern list
// selects everything. A pattern that matches nothing is an error, so a typo
// cannot silently run an empty matrix.
func Select(patterns []string) ([]Case, error) {
	all := All()
	if len(patterns) == 0 {
		return all, nil
	}
	var out []Case
	seen := map[string]bool{}
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, fmt.Errorf("bad --case pattern %q: %w", p, err)
		}
		n := 0
		for _, c := range all {
			if matchID(p, c.ID) {
				n++
				if !seen[c.ID] {
					seen[c.ID] = true
					out = append(out, c)
				}
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("--case %q matches no case (see 'vmtest matrix' for the IDs; a * stops at '/': %s/** takes everything under %s)", p, strings.TrimSuffix(strings.TrimSuffix(p, "*"), "/"), strings.TrimSuffix(strings.TrimSuffix(p, "*"), "/"))
		}
	}
	// Keep matrix order regardless of pattern order.
	sort.SliceStable(out, func(i, j int) bool { return index(all, out[i].ID) < index(all, out[j].ID) })
	return out, nil
}

// matchID matches an ID against a --case pattern: a path.Match glob, a
// prefix ending in "/", or a prefix followed by "/**".
func matchID(pattern, id string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/**"); ok {
		return strings.HasPrefix(id, prefix+"/")
	}
	if strings.HasSuffix(pattern, "/") {
		return strings.HasPrefix(id, pattern)
	}
	ok, _ := path.Match(pattern, id)
	return ok
}

func index(cs []Case, id string) int {
	for i, c := range cs {
		if c.ID == id {
			return i
		}
	}
	return -1
}
