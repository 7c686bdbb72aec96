package compare

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/inputerr"
	"github.com/vmtest/vmtest/internal/result"
	"github.com/vmtest/vmtest/internal/testutils"
)

// script answers the VMs of a comparison: for the side (base or patched)
// and round (0 the comparison, 1... the confirmations), each case's
// outcome; a case not named passes.
type script func(side string, round int, id string) result.Outcome

// vmFailed in a script makes that whole VM run fail (QEMU failed).
const vmFailed result.Outcome = "vm-failed"

// scriptIDs are the cases every scripted VM reports.
var scriptIDs = []string{"clone3/plain/ver0", "clone3/plain/newpid", "set_tid/pid/zero"}

// scripted is a comparison of two fake kernels whose VMs the script
// answers, recording every VM it was asked to boot.
type scripted struct {
	dir  string
	opts Options
	mu   sync.Mutex
	vms  []vm
}

func newScripted(t *testing.T, sc script) *scripted {
	t.Helper()
	s := &scripted{dir: t.TempDir()}
	agent, err := testutils.WriteStaticAgent(s.dir)
	if err != nil {
		t.Fatal(err)
	}
	s.opts = Options{
		// No VM boots, so any program will do for QEMU.
		Run:     run.Options{Accel: "tcg", QEMU: "sh", Agent: agent, CacheDir: filepath.Join(s.dir, "cache")},
		Out:     filepath.Join(s.dir, "cmp"),
		Confirm: 1,
	}
	s.opts.boot = func(ctx context.Context, v *vm) (*run.Result, error) {
		s.mu.Lock()
		s.vms = append(s.vms, *v)
		s.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		res := &run.Result{RunID: "r", Status: run.Completed, Summary: map[result.Outcome]int{}}
		for _, id := range scriptIDs {
			if v.round > 0 && !slices.Contains(v.cases, id) {
				continue
			}
			oc := sc(v.side, v.round, id)
			if oc == "" {
				oc = result.Pass
			}
			if oc == vmFailed {
				res.Status, oc = run.QEMUFailed, result.Error
			}
			res.Cases = append(res.Cases, result.Case{ID: id, Outcome: oc})
			res.Summary[oc]++
		}
		// What a real run leaves: its result directory.
		if err := os.MkdirAll(v.dir, 0o755); err != nil {
			return nil, err
		}
		return res, os.WriteFile(filepath.Join(v.dir, "result.json"), []byte("{}"), 0o644)
	}
	return s
}

// kernel is a fake bzImage (or, with a result directory, that) as the
// command line would name it.
func (s *scripted) kernel(t *testing.T, arg string) *run.KernelRef {
	t.Helper()
	if arg == "" {
		var err error
		if arg, err = testutils.WriteBzImage(t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	k, err := run.ParseKernel("kernel", arg, true)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (s *scripted) run(t *testing.T, ctx context.Context) (*Report, error) {
	t.Helper()
	return Run(ctx, s.kernel(t, ""), s.kernel(t, ""), s.opts)
}

func TestRunConfirm(t *testing.T) {
	const (
		A = "clone3/plain/ver0"
		B = "clone3/plain/newpid"
	)
	F, E, P := result.Fail, result.Error, result.Pass
	for _, tc := range []struct {
		name        string
		confirm     int
		sc          script
		regressions []string
		flaky       []string
		rounds      int      // confirmation rounds recorded
		vms         int      // confirmation VMs booted
		rerunCases  []string // what every confirmation VM was given
		unconfirmed string   // in Report.Unconfirmed
	}{
		{"no regression, no re-run", 1, func(string, int, string) result.Outcome { return P }, nil, nil, 0, 0, nil, ""},
		{"regression confirmed", 1, func(side string, _ int, id string) result.Outcome {
			if side == "patched" && id == A {
				return F
			}
			return P
		}, []string{A}, nil, 1, 2, []string{A}, ""},
		{"a harness error that does not come back is flaky", 1, func(side string, round int, id string) result.Outcome {
			if side == "patched" && id == A && round == 0 {
				return E
			}
			return P
		}, nil, []string{A}, 1, 2, []string{A}, ""},
		{"one confirmed, one flaky in the third round", 3, func(side string, round int, id string) result.Outcome {
			switch {
			case side == "patched" && id == A:
				return F
			case side == "patched" && id == B && round != 3:
				return F
			}
			return P
		}, []string{A}, []string{B}, 3, 6, []string{A, B}, ""},
		{"base flakes", 1, func(side string, round int, id string) result.Outcome {
			if side == "patched" && id == A || side == "base" && id == A && round == 1 {
				return F
			}
			return P
		}, nil, []string{A}, 1, 2, []string{A}, ""},
		// A confirmation VM that fails as a whole confirms nothing: the
		// comparison is written with the regression unconfirmed, and no
		// further round runs.
		{"confirmation VM fails", 3, func(side string, round int, id string) result.Outcome {
			switch {
			case side == "patched" && round == 1:
				return vmFailed
			case side == "patched" && id == A:
				return F
			}
			return P
		}, []string{A}, nil, 0, 2, []string{A}, "confirm-1 patched run: qemu-failed"},
		{"--confirm 0 takes the first answer", 0, func(side string, round int, id string) result.Outcome {
			if side == "patched" && id == A {
				return E
			}
			return P
		}, []string{A}, nil, 0, 0, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScripted(t, tc.sc)
			s.opts.Confirm = tc.confirm
			rep, err := s.run(t, t.Context())
			if err != nil {
				t.Fatal(err)
			}
			c := rep.Comparison
			if strings.Join(c.Regressions, ",") != strings.Join(tc.regressions, ",") || strings.Join(c.Flaky, ",") != strings.Join(tc.flaky, ",") {
				t.Errorf("regressions %v flaky %v, want %v and %v", c.Regressions, c.Flaky, tc.regressions, tc.flaky)
			}
			if c.Regressions == nil || c.Flaky == nil {
				t.Error("regressions and flaky must be lists, not null")
			}
			var reruns []vm
			for _, v := range s.vms {
				if v.round > 0 {
					reruns = append(reruns, v)
				}
			}
			if c.Confirm != tc.rounds || len(reruns) != tc.vms {
				t.Errorf("%d rounds recorded, %d confirmation VMs; want %d and %d", c.Confirm, len(reruns), tc.rounds, tc.vms)
			}
			for _, v := range reruns {
				if strings.Join(v.cases, ",") != strings.Join(tc.rerunCases, ",") {
					t.Errorf("a confirmation VM got cases %v, want exactly %v", v.cases, tc.rerunCases)
				}
				if want := filepath.Join(rep.Dir, "confirm-"+string(rune('0'+v.round)), v.side); v.final != want {
					t.Errorf("confirmation VM names %s, want %s", v.final, want)
				}
			}
			if !strings.HasPrefix(rep.Unconfirmed, tc.unconfirmed) || (tc.unconfirmed == "") != (rep.Unconfirmed == "") {
				t.Errorf("unconfirmed %q, want %q", rep.Unconfirmed, tc.unconfirmed)
			}
			for _, cs := range c.Cases {
				if (cs.Verdict == Flaky || cs.Verdict == Regressed) && len(cs.PatchedReruns) != tc.rounds {
					t.Errorf("%s: %d patched re-runs recorded, want %d", cs.ID, len(cs.PatchedReruns), tc.rounds)
				}
			}
		})
	}
}

// TestRunWritesComparison: the directory holds comparison.json (what the
// report says), comparison.md and each side's result directory, named
// where they end up, and nothing staged is left beside it.
func TestRunWritesComparison(t *testing.T) {
	s := newScripted(t, func(string, int, string) result.Outcome { return "" })
	rep, err := s.run(t, t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Dir != s.opts.Out {
		t.Errorf("written to %s, want %s", rep.Dir, s.opts.Out)
	}
	b, err := os.ReadFile(filepath.Join(rep.Dir, JSONFile))
	if err != nil {
		t.Fatal(err)
	}
	var c Comparison
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Cases) != len(scriptIDs) || c.Summary[UnchangedPass] != len(scriptIDs) || c.Base.Kind != "bzimage" || c.Patched.Result == nil {
		t.Errorf("comparison.json: %d cases, summary %v, base kind %q", len(c.Cases), c.Summary, c.Base.Kind)
	}
	if md, err := os.ReadFile(filepath.Join(rep.Dir, MarkdownFile)); err != nil || !strings.Contains(string(md), "3 cases pass on both kernels") {
		t.Errorf("comparison.md: %v\n%s", err, md)
	}
	for _, side := range []string{"base", "patched"} {
		if _, err := os.Stat(filepath.Join(rep.Dir, side, "result.json")); err != nil {
			t.Errorf("%s result directory: %v", side, err)
		}
	}
	for _, v := range s.vms {
		if v.final != filepath.Join(rep.Dir, v.side) || filepath.Dir(filepath.Dir(v.dir)) != filepath.Dir(rep.Dir) || filepath.Base(v.dir) != v.side {
			t.Errorf("%s VM: written to %s as %s; want a stage beside %s, named %s/%s", v.side, v.dir, v.final, rep.Dir, rep.Dir, v.side)
		}
	}
	if ents, _ := os.ReadDir(filepath.Dir(rep.Dir)); len(ents) != 2 { // agent, cmp
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("beside the comparison: %v, want agent and cmp", names)
	}
	// Again over the earlier comparison: refused, then replaced with Force.
	if _, err := s.run(t, t.Context()); !errors.Is(err, run.ErrEarlierResult) {
		t.Errorf("over an earlier comparison without Force: %v", err)
	}
	s.opts.Force = true
	if _, err := s.run(t, t.Context()); err != nil {
		t.Errorf("over an earlier comparison with Force: %v", err)
	}
}

// TestRunEarlierResult: a side given as an earlier result directory is
// not booted, and not re-run when the other regresses.
func TestRunEarlierResult(t *testing.T) {
	s := newScripted(t, func(side string, _ int, id string) result.Outcome {
		if id == scriptIDs[0] {
			return result.Fail
		}
		return ""
	})
	earlier := filepath.Join(t.TempDir(), "earlier")
	os.MkdirAll(earlier, 0o755)
	if err := os.WriteFile(filepath.Join(earlier, "result.json"), []byte(`{"run_id":"r","status":"completed","cases":[{"id":"`+scriptIDs[0]+`","outcome":"pass"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(t.Context(), s.kernel(t, earlier), s.kernel(t, ""), s.opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range s.vms {
		if v.side == "base" {
			t.Errorf("the earlier result was booted (round %d)", v.round)
		}
	}
	if len(s.vms) != 2 || rep.Comparison.Confirm != 1 || rep.Comparison.Base.Kind != "result" {
		t.Errorf("%d VMs, %d rounds, base kind %q; want the patched kernel booted twice, one round", len(s.vms), rep.Comparison.Confirm, rep.Comparison.Base.Kind)
	}
	if cs := rep.Comparison.Cases[0]; cs.Verdict != Regressed || cs.BaseReruns != nil || len(cs.PatchedReruns) != 1 {
		t.Errorf("%s: %s, re-runs base %v patched %v", cs.ID, cs.Verdict, cs.BaseReruns, cs.PatchedReruns)
	}
}

// TestRunRefuses: bad options are refused before any VM boots, as usage
// errors, with nothing written.
func TestRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"exec", func(o *Options) { o.Run.Exec = []string{o.Run.Agent} }, "exec: runs programs"},
		{"unknown case", func(o *Options) { o.Run.Cases = []string{"no/such/*"} }, "matches no case"},
		{"unknown accel", func(o *Options) { o.Run.Accel = "xen" }, "accel xen: want auto, kvm or tcg"},
		{"out is a file", func(o *Options) { o.Out = o.Run.Agent }, "is an existing file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newScripted(t, func(string, int, string) result.Outcome { return "" })
			tc.change(&s.opts)
			_, err := s.run(t, t.Context())
			if !errors.Is(err, inputerr.ErrBadInput) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want bad input with %q", err, tc.want)
			}
			if len(s.vms) > 0 {
				t.Errorf("%d VMs booted", len(s.vms))
			}
			if _, err := os.Stat(filepath.Join(s.dir, "cmp")); err == nil {
				t.Error("a comparison directory was written")
			}
		})
	}
}

// TestRunInterruptedBeforeVMs: a context that ends before the VMs start
// is the error, and nothing is written.
func TestRunInterruptedBeforeVMs(t *testing.T) {
	s := newScripted(t, func(string, int, string) result.Outcome { return "" })
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.run(t, ctx)
	if !errors.Is(err, context.Canceled) || err.Error() != "interrupted before the VMs started" {
		t.Errorf("error %v, want the interruption", err)
	}
	if ents, _ := os.ReadDir(s.dir); len(ents) != 1 { // the agent
		t.Errorf("%d entries in the directory, want nothing written", len(ents))
	}
}

// TestLowerFirstFinisher: on a host with fewer CPUs than the two VMs have
// vCPUs, the side with the smaller kernel image (expected to finish
// first) is reniced; with enough CPUs, images of one size, or a side
// that is an earlier result (not booted), neither is.
func TestLowerFirstFinisher(t *testing.T) {
	dir := t.TempDir()
	image := func(name string, size int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	small, big, big2 := image("small", 10), image("big", 100), image("big2", 100)
	for _, tt := range []struct {
		name          string
		base, patched string
		baseResult    bool // the base is an earlier result directory
		cpus          int
		want          string // the side reniced, "" for neither
	}{
		{"two CPUs, smaller base", small, big, false, 2, "base"},
		{"two CPUs, smaller patched", big, small, false, 2, "patched"},
		{"three CPUs still too few", big, small, false, 3, "patched"},
		{"four CPUs: both run at full speed", small, big, false, 4, ""},
		{"images of one size", big, big2, false, 2, ""},
		{"base not booted", small, big, true, 2, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			kind := run.KernelImage
			if tt.baseResult {
				kind = run.KernelResult
			}
			sides := []*side{
				{label: "base", ref: &run.KernelRef{Kind: kind}, kernel: tt.base, prepared: &run.Prepared{}},
				{label: "patched", ref: &run.KernelRef{Kind: run.KernelImage}, kernel: tt.patched, prepared: &run.Prepared{}},
			}
			before := []*run.Prepared{sides[0].prepared, sides[1].prepared}
			lowerFirstFinisher(sides, tt.cpus)
			for i, s := range sides {
				if changed := s.prepared != before[i]; changed != (s.label == tt.want) {
					t.Errorf("%s reniced: %v, want the %q side only", s.label, changed, tt.want)
				}
			}
		})
	}
}
