package contract

import "testing"

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		runner  Runner
		debug   DebugMode
		wantErr bool
	}{
		{in: "", runner: RunnerProxy, debug: DebugNone},
		{in: "exec", runner: RunnerExec, wantErr: true},
		{in: "uart", debug: DebugUART, wantErr: true},
		{in: "bogus", wantErr: true},
	} {
		r, rerr := ParseRunner(tc.in)
		d, derr := ParseDebugMode(tc.in)
		// An input is valid for at most one of the two kinds (or both
		// when empty); check each against its expectation.
		if tc.runner != "" && (rerr != nil || r != tc.runner) {
			t.Errorf("ParseRunner(%q) = %q, %v; want %q", tc.in, r, rerr, tc.runner)
		}
		if tc.runner == "" && rerr == nil {
			t.Errorf("ParseRunner(%q) accepted it", tc.in)
		}
		if tc.in != "" && tc.debug == "" && derr == nil {
			t.Errorf("ParseDebugMode(%q) accepted it", tc.in)
		}
		if tc.debug != "" && (derr != nil || d != tc.debug) {
			t.Errorf("ParseDebugMode(%q) = %q, %v; want %q", tc.in, d, derr, tc.debug)
		}
	}
	for _, m := range DebugModes {
		if got, err := ParseDebugMode(string(m)); err != nil || got != m {
			t.Errorf("ParseDebugMode(%q) = %q, %v", m, got, err)
		}
	}
}
