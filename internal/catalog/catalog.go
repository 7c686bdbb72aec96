// Package catalog describes the clone3() set_tid matrix's cases without
// their bodies: each case's ID, group, the kernel rule it checks, the answer
// it expects, the features it needs and the setup it runs in. The host lists,
// selects and reports cases from here; the guest's package matrix pairs
// every entry with the code that runs it.
//
// The entries themselves (cases.go) are generated from guest/matrix, where
// each case is written once beside its body; a test there fails when the two
// disagree. This package is plain data and builds for every GOOS and GOARCH.
package catalog

//go:generate go run ../../guest/matrix/gencatalog -o cases.go

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Feature is a set of kernel capabilities a case depends on.
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
	// code is the constant's name, for generated source.
	code string
}{
	{Clone3, "clone3", "Clone3"},
	{SetTID, "set_tid", "SetTID"},
	{PIDNS, "pid_ns", "PIDNS"},
	{UserNS, "user_ns", "UserNS"},
	{CheckpointRestoreCap, "cap_checkpoint_restore", "CheckpointRestoreCap"},
	{ClearSighand, "clear_sighand", "ClearSighand"},
	{Cgroup2, "cgroup2", "Cgroup2"},
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
		i := slices.IndexFunc(featureNames, func(fn struct {
			f    Feature
			name string
			code string
		}) bool {
			return fn.name == name
		})
		if i < 0 {
			return 0, fmt.Errorf("unknown feature %q", name)
		}
		f |= featureNames[i].f
	}
	return f, nil
}

// Cap is a Linux capability number.
type Cap uintptr

// The capabilities the matrix uses. CAP_CHECKPOINT_RESTORE is spelled out
// here because it only exists from Linux 5.9 on.
const (
	CapSysAdmin          Cap = 21
	CapCheckpointRestore Cap = 40
)

var capNames = map[Cap]struct{ name, code string }{
	CapSysAdmin:          {"CAP_SYS_ADMIN", "CapSysAdmin"},
	CapCheckpointRestore: {"CAP_CHECKPOINT_RESTORE", "CapCheckpointRestore"},
}

// String is the capability's name, e.g. CAP_SYS_ADMIN.
func (c Cap) String() string {
	if n, ok := capNames[c]; ok {
		return n.name
	}
	return fmt.Sprintf("cap %d", uintptr(c))
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
	AmbientCaps []Cap
	// DropCaps are removed from the effective and permitted sets of the
	// body's thread before it runs (used to run as uid 0 without them).
	DropCaps []Cap
	// KeepOnlyCaps, when non-empty, makes the body's thread keep exactly
	// these capabilities.
	KeepOnlyCaps []Cap
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
		d := fmt.Sprintf("pidns depth %d", n)
		var at []string
		for i, l := range s.Levels {
			if l.UserNS {
				at = append(at, fmt.Sprint(i+1))
			}
		}
		if len(at) > 0 {
			d += " (userns at level " + strings.Join(at, ",") + ")"
		}
		parts = append(parts, d)
	}
	parts = append(parts, fmt.Sprintf("uid %d", s.UID))
	if len(s.AmbientCaps) > 0 {
		parts = append(parts, "caps "+joinCaps(s.AmbientCaps))
	}
	if len(s.KeepOnlyCaps) > 0 {
		parts = append(parts, "only "+joinCaps(s.KeepOnlyCaps))
	}
	if len(s.DropCaps) > 0 {
		parts = append(parts, "without "+joinCaps(s.DropCaps))
	}
	if s.OwnProcess {
		parts = append(parts, "own process")
	}
	return strings.Join(parts, ", ")
}

func joinCaps(cs []Cap) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.String()
	}
	return strings.Join(s, "+")
}

// Info is one case of the matrix, without its body.
type Info struct {
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
	// Setup is built by the agent before the body starts.
	Setup Setup
	// Exclusive cases run alone, after the others: they measure races and
	// need every vCPU and a quiet PID allocator.
	Exclusive bool
	// Serial cases run one after another on the first worker, beside the
	// ordinary cases but never beside each other (they create and tear
	// down dozens of nested PID namespaces; see guest/matrix).
	Serial bool
}

// Groups are the case groups, in run order.
var Groups = []string{"probe", "plain", "args", "pid", "nested", "lifecycle", "setns", "userns", "hygiene", "concurrency", "threads"}

// All returns every case, in run order (by group, then definition order).
func All() []Info { return slices.Clone(cases) }

// Lookup finds a case by ID.
func Lookup(id string) (Info, bool) {
	i := slices.IndexFunc(cases, func(c Info) bool { return c.ID == id })
	if i < 0 {
		return Info{}, false
	}
	return cases[i], true
}

// Select returns the cases whose ID matches any of the patterns, in run
// order.
func Select(patterns []string) ([]Info, error) {
	return SelectFrom(cases, func(c Info) string { return c.ID }, patterns)
}

// PatternError is a case pattern that is malformed or matches no case.
type PatternError struct {
	Pattern string
	// Err is path.Match's complaint; nil when the pattern matched nothing.
	Err error
}

func (e *PatternError) Error() string {
	return fmt.Sprintf("case pattern %q %s", e.Pattern, e.Problem())
}

// Problem is what is wrong with the pattern, for messages that name it
// their own way (the CLI names its flag).
func (e *PatternError) Problem() string {
	if e.Err != nil {
		return "is malformed: " + e.Err.Error()
	}
	p := strings.TrimSuffix(strings.TrimSuffix(e.Pattern, "*"), "/")
	return fmt.Sprintf("matches no case (a * stops at '/': %s/** takes everything under %s)", p, p)
}

func (e *PatternError) Unwrap() error { return e.Err }

// SelectFrom is Select over any list of cases in run order, each with an
// ID: shell globs as in path.Match (a '*' does not cross '/'), a prefix
// ending in '/', or a prefix followed by "/**" for a whole subtree. No
// patterns select everything. A pattern that matches nothing is an error
// (*PatternError), so a typo cannot silently run an empty matrix. The
// result keeps the order of all, whatever the order of the patterns.
func SelectFrom[T any](all []T, id func(T) string, patterns []string) ([]T, error) {
	if len(patterns) == 0 {
		return slices.Clone(all), nil
	}
	picked := make([]bool, len(all))
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return nil, &PatternError{Pattern: p, Err: err}
		}
		n := 0
		for i, c := range all {
			if Match(p, id(c)) {
				picked[i] = true
				n++
			}
		}
		if n == 0 {
			return nil, &PatternError{Pattern: p}
		}
	}
	var out []T
	for i, c := range all {
		if picked[i] {
			out = append(out, c)
		}
	}
	return out, nil
}

// Match reports whether a case ID matches one pattern (see SelectFrom).
func Match(pattern, id string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "/**"); ok {
		return strings.HasPrefix(id, prefix+"/")
	}
	if strings.HasSuffix(pattern, "/") {
		return strings.HasPrefix(id, pattern)
	}
	ok, _ := path.Match(pattern, id)
	return ok
}
