//go:build linux

package agent

import (
	"slices"
	"testing"

	"github.com/vmtest/vmtest/internal/result"
)

func TestChargeReports(t *testing.T) {
	pass := result.Case{ID: "a", Outcome: result.Pass}
	if got := chargeReports(pass, nil, []string{"b"}); got != pass {
		t.Errorf("no report changed the case: %+v", got)
	}
	got := chargeReports(pass, []string{"WARNING: at kernel/pid.c:229 alloc_pid"}, []string{"b"})
	want := "the kernel reported WARNING: at kernel/pid.c:229 alloc_pid while this case ran (beside it ran b)"
	if got.Outcome != result.Error || got.Reason != want {
		t.Errorf("got %s %q, want error %q", got.Outcome, got.Reason, want)
	}
	failed := result.Case{ID: "a", Outcome: result.Fail, Reason: "EEXIST, want EPERM"}
	got = chargeReports(failed, []string{"BUG: x", "WARNING: y"}, nil)
	want = "the kernel reported BUG: x; WARNING: y while this case ran; the case itself: fail: EEXIST, want EPERM"
	if got.Outcome != result.Error || got.Reason != want {
		t.Errorf("got %s %q, want error %q", got.Outcome, got.Reason, want)
	}
}

func TestRunningCases(t *testing.T) {
	var rc runningCases
	rc.set(0, "x")
	rc.set(1, "y")
	rc.set(2, "z")
	rc.set(2, "")
	rc.set(99, "ignored")
	if got := rc.others(0); !slices.Equal(got, []string{"y"}) {
		t.Errorf("others(0) = %v", got)
	}
}
