package run

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// TestCheckNamedValues: the typed options still hold any string a library
// caller puts there; Check refuses what their packages do not define,
// naming the field, the value and the valid ones.
func TestCheckNamedValues(t *testing.T) {
	for _, tt := range []struct {
		o    Options
		want string
	}{
		{Options{Accel: "hvf"}, "accel hvf: want auto, kvm or tcg"},
		{Options{Debug: "crash"}, "debug crash: want panic, hang, silent, stall, debugcon or uart"},
		{Options{Runner: "fork"}, "runner fork: want proxy or exec"},
		{Options{Timeouts: Timeouts{Case: -time.Second}}, "case timeout -1s: must be positive"},
		{Options{Cases: []string{"no/such"}}, `case pattern "no/such" matches no case`},
	} {
		err := tt.o.Check()
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) || !errors.Is(err, inputerr.ErrBadInput) {
			t.Errorf("Check(%+v) = %v, want bad input starting %q", tt.o, err, tt.want)
		}
	}
}

// TestRunnerParam: the default runner adds no kernel parameter; another
// one adds it.
func TestRunnerParam(t *testing.T) {
	for r, want := range map[contract.Runner][]string{
		"":                   nil,
		contract.RunnerProxy: nil,
		contract.RunnerExec:  {"vmtest.runner=exec"},
	} {
		if got := runnerParam(r); !slices.Equal(got, want) {
			t.Errorf("runnerParam(%q) = %q, want %q", r, got, want)
		}
	}
}
