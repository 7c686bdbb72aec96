//go:build linux

package matrix

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func probeByFeature(t *testing.T, f Feature) Probe {
	t.Helper()
	for _, p := range Probes {
		if p.Feature == f {
			return p
		}
	}
	t.Fatalf("no probe for %v", f)
	return Probe{}
}

// TestProbeClassify gives each probe every answer a kernel can give and
// checks the verdict: only the answer of a kernel that predates the feature
// is "absent", only the right one "present", everything else "wrong".
func TestProbeClassify(t *testing.T) {
	ok := ProbeAnswer{PID: 300}
	e := func(n unix.Errno) ProbeAnswer { return ProbeAnswer{Errno: n} }
	for _, tc := range []struct {
		f    Feature
		a    ProbeAnswer
		want Verdict
	}{
		{Clone3, ok, Present},
		{Clone3, e(unix.ENOSYS), Absent},
		{Clone3, e(unix.EINVAL), Wrong}, // refuses a 64-byte struct or SIGCHLD
		{Clone3, e(unix.E2BIG), Wrong},
		{Clone3, e(unix.EFAULT), Wrong},
		{Clone3, e(unix.EPERM), Wrong},
		{Clone3, e(unix.ENOMEM), Wrong},
		{Clone3, e(unix.EAGAIN), Wrong},

		{SetTID, e(unix.EEXIST), Present},
		{SetTID, e(unix.E2BIG), Absent},
		{SetTID, ok, Wrong},             // ignored set_tid, or gave a second PID 1
		{SetTID, e(unix.EAGAIN), Wrong}, // a taken PID answered as "try again"
		{SetTID, e(unix.EINVAL), Wrong}, // can never give PID 1
		{SetTID, e(unix.EPERM), Wrong},  // root refused
		{SetTID, e(unix.ENOSYS), Wrong}, // clone3 answered the VER0 probe
		{SetTID, e(unix.ENOMEM), Wrong},
		{SetTID, e(unix.EFAULT), Wrong},

		{ClearSighand, ok, Present},
		{ClearSighand, e(unix.EINVAL), Absent}, // an unknown flag before 5.5
		{ClearSighand, e(unix.E2BIG), Wrong},
		{ClearSighand, e(unix.EPERM), Wrong},
		{ClearSighand, e(unix.ENOMEM), Wrong},
	} {
		p := probeByFeature(t, tc.f)
		if got := p.Classify(tc.a); got != tc.want {
			t.Errorf("%s answered %s: %s, want %s", p.ID, tc.a, got, tc.want)
		}
	}
}

// TestClassifyAll checks how answers become features and reasons: a wrong
// answer keeps the feature (so its cases run and are judged), an absent
// one gives a reason quoting the kernel, and a probe that cannot be asked
// inherits the reason of what it needs.
func TestClassifyAll(t *testing.T) {
	ans := func(m map[Feature]ProbeAnswer) func(Probe) ProbeAnswer {
		return func(p Probe) ProbeAnswer {
			a, ok := m[p.Feature]
			if !ok {
				t.Fatalf("%s asked, but the test gave it no answer", p.ID)
			}
			return a
		}
	}
	ok := ProbeAnswer{PID: 7}
	for _, tc := range []struct {
		name    string
		answers map[Feature]ProbeAnswer
		want    Feature
		why     map[Feature]string // substrings of the reasons
	}{
		{"6.1", map[Feature]ProbeAnswer{Clone3: ok, SetTID: {Errno: unix.EEXIST}, ClearSighand: ok},
			Clone3 | SetTID | ClearSighand, nil},
		{"no clone3", map[Feature]ProbeAnswer{Clone3: {Errno: unix.ENOSYS}},
			0, map[Feature]string{Clone3: "answered ENOSYS", SetTID: "answered ENOSYS", ClearSighand: "answered ENOSYS"}},
		{"clone3 refusing VER0", map[Feature]ProbeAnswer{Clone3: {Errno: unix.EINVAL}, SetTID: {Errno: unix.EEXIST}, ClearSighand: ok},
			Clone3 | SetTID | ClearSighand, nil},
		{"set_tid withdrawn", map[Feature]ProbeAnswer{Clone3: ok, SetTID: {Errno: unix.E2BIG}, ClearSighand: ok},
			Clone3 | ClearSighand, map[Feature]string{SetTID: "answered E2BIG"}},
		{"taken PID answered EAGAIN", map[Feature]ProbeAnswer{Clone3: ok, SetTID: {Errno: unix.EAGAIN}, ClearSighand: ok},
			Clone3 | SetTID | ClearSighand, nil},
		{"set_tid ignored", map[Feature]ProbeAnswer{Clone3: ok, SetTID: ok, ClearSighand: ok},
			Clone3 | SetTID | ClearSighand, nil},
		{"5.4", map[Feature]ProbeAnswer{Clone3: ok, SetTID: {Errno: unix.E2BIG}, ClearSighand: {Errno: unix.EINVAL}},
			Clone3, map[Feature]string{SetTID: "E2BIG", ClearSighand: "answered EINVAL"}},
		{"clear_sighand refused otherwise", map[Feature]ProbeAnswer{Clone3: ok, SetTID: {Errno: unix.EEXIST}, ClearSighand: {Errno: unix.EPERM}},
			Clone3 | SetTID | ClearSighand, nil},
	} {
		r := ClassifyAll(PIDNS, ans(tc.answers))
		if r.Features != tc.want|PIDNS {
			t.Errorf("%s: features %v, want %v", tc.name, r.Features, tc.want|PIDNS)
		}
		if len(r.Notes) != len(Probes) {
			t.Errorf("%s: %d notes, want one per probe: %q", tc.name, len(r.Notes), r.Notes)
		}
		for f, sub := range tc.why {
			if !strings.Contains(r.Why[f], sub) {
				t.Errorf("%s: reason for %v %q, want it to quote %q", tc.name, f, r.Why[f], sub)
			}
		}
		for f := range r.Why {
			if _, want := tc.why[f]; !want {
				t.Errorf("%s: unexpected reason for %v: %q", tc.name, f, r.Why[f])
			}
		}
		// The reasons reach the cases that cannot run.
		for _, c := range All() {
			reason, _ := Missing(c.Needs, r.Features, r.Why)
			if reason == "" {
				continue
			}
			if c.Needs&SetTID != 0 && r.Features&SetTID == 0 && !strings.Contains(reason, "answered") {
				t.Errorf("%s: %s: reason %q does not quote the kernel", tc.name, c.ID, reason)
			}
		}
	}
}

// TestProbeCases: every probe is a case of its own, needing its feature,
// so that an absent feature reads as unsupported or skipped and a wrong
// answer as a failure.
func TestProbeCases(t *testing.T) {
	for _, p := range Probes {
		c, ok := Lookup(p.ID)
		if !ok {
			t.Errorf("probe %s has no case", p.ID)
			continue
		}
		if c.Needs&p.Feature == 0 {
			t.Errorf("%s does not need %v", p.ID, p.Feature)
		}
		if p.Classify(ProbeAnswer{Errno: p.Absent}) != Absent || p.Classify(ProbeAnswer{Errno: p.Right, PID: 1}) != Present {
			t.Errorf("%s: its own answers are not classified as its own", p.ID)
		}
	}
}
