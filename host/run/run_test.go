package run

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/qemu"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/result"
)

func TestTimeoutDefaults(t *testing.T) {
	kvm := Timeouts{}.withDefaults(qemu.KVM)
	tcg := Timeouts{}.withDefaults(qemu.TCG)
	if kvm.Boot != 20*time.Second || kvm.Case != 20*time.Second || kvm.Run != 5*time.Minute {
		t.Errorf("KVM defaults %+v", kvm)
	}
	if tcg.Boot != 3*kvm.Boot || tcg.Case != 3*kvm.Case || tcg.Run != 3*kvm.Run {
		t.Errorf("TCG defaults %+v are not KVM's tripled", tcg)
	}
	if got := (Timeouts{Boot: time.Second}).withDefaults(qemu.TCG); got.Boot != time.Second {
		t.Errorf("an explicit boot timeout was replaced: %v", got.Boot)
	}
}

func TestFinish(t *testing.T) {
	cases, err := catalog.Select([]string{"clone3/plain/ver0", "clone3/plain/size-zero"})
	if err != nil {
		t.Fatal(err)
	}
	res := &Result{Status: NoDone, Cases: []result.Case{{ID: "clone3/plain/ver0", Outcome: result.Pass, DurationMS: 2}}}
	finish(res, cases)
	if len(res.Cases) != 2 {
		t.Fatalf("%d cases after finish, want every selected case", len(res.Cases))
	}
	if c := res.Cases[0]; c.Group != "plain" || c.Rule == "" {
		t.Errorf("group and rule not filled in from the matrix: %+v", c)
	}
	if c := res.Cases[1]; c.Outcome != result.Error || !strings.Contains(c.Reason, "no-done-record") {
		t.Errorf("a case the guest never reported: %+v, want error naming the status", c)
	}
	if res.Summary[result.Pass] != 1 || res.Summary[result.Error] != 1 || res.Timings.GuestSumMS != 2 {
		t.Errorf("summary %v, guest sum %v", res.Summary, res.Timings.GuestSumMS)
	}
	// A run stopped on purpose (StopOnFailure) skips what it left out:
	// no error.
	stopped := &Result{Status: Completed, StoppedAt: "clone3/plain/ver0", Cases: []result.Case{{ID: "clone3/plain/ver0", Outcome: result.Fail}}}
	finish(stopped, cases)
	if c := stopped.Cases[1]; c.Outcome != result.Skip || c.Reason != "not run: stopped at the first failing case, clone3/plain/ver0" {
		t.Errorf("a case a stopped run left out: %+v, want skipped naming the case it stopped at", c)
	}
	empty := &Result{Status: Completed}
	finish(empty, nil)
	if empty.Cases == nil {
		t.Error(`an --exec run must write "cases": [], not null`)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		d, _ := os.MkdirTemp(dir, "r")
		os.WriteFile(filepath.Join(d, "result.json"), []byte(s), 0o644)
		return d
	}
	for _, tc := range []struct {
		json, err string
	}{
		{`{"run_id":"x","status":"completed","cases":[{"id":"a","outcome":"pass"}]}`, ""},
		{`{"run_id":"x","status":"completed","cases":[]}`, ""},
		{`{"status":"completed"}`, "not a vmtest result"},
		{`[1,2]`, "not a vmtest result"},
		{`{"run_id":"x","status":"completed","cases":[{"id":"a","outcome":"great"}]}`, "unknown outcome"},
		{`{"run_id":"x","status":"completed","cases":[{"outcome":"pass"}]}`, "no id"},
	} {
		_, err := Load(write(tc.json))
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Load(%s): %v, want %q", tc.json, err, tc.err)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("Load of a directory without result.json succeeded")
	}
}
