package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/fakekernel"
	"github.com/vmtest/vmtest/internal/result"
)

// script answers the VM runs of a comparison: for the side (base or
// patched) and round (0 the comparison, 1... the confirmations), each
// case's outcome; a case not named passes.
type script func(side string, round int, id string) result.Outcome

// vmFailed in a script makes that whole VM run fail (QEMU failed).
const vmFailed result.Outcome = "vm-failed"

// scriptedCompare runs `vmtest compare` in-process on two fake kernels
// with every VM replaced by the script, and returns the exit status, the
// comparison and the case lists each confirmation run was given.
func scriptedCompare(t *testing.T, sc script, extra ...string) (int, Comparison, [][]string, string) {
	t.Helper()
	dir := t.TempDir()
	img, err := fakekernel.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var reruns [][]string
	saved, savedAgent := bootKernel, agentBinary
	defer func() { bootKernel, agentBinary = saved, savedAgent }()
	agentBinary = vmtestBin
	ids := []string{"clone3/plain/ver0", "clone3/plain/newpid", "set_tid/pid/zero"}
	bootKernel = func(ctx context.Context, o run.Options) (*run.Result, error) {
		side := filepath.Base(o.Out)
		round := 0
		if p := filepath.Base(filepath.Dir(o.Out)); strings.HasPrefix(p, "confirm-") {
			round = int(p[len("confirm-")] - '0')
			mu.Lock()
			reruns = append(reruns, o.Cases)
			mu.Unlock()
		}
		res := &run.Result{RunID: "r", Status: run.Completed, Summary: map[result.Outcome]int{}}
		for _, id := range ids {
			if round > 0 && !slices.Contains(o.Cases, id) {
				continue
			}
			oc := sc(side, round, id)
			if oc == "" {
				oc = result.Pass
			}
			if oc == vmFailed {
				res.Status, oc = run.QEMUFailed, result.Error
			}
			res.Cases = append(res.Cases, result.Case{ID: id, Outcome: oc})
			res.Summary[oc]++
		}
		return res, nil
	}
	out := filepath.Join(dir, "cmp")
	var stdout, stderr bytes.Buffer
	code := Main(append([]string{"compare", "--base", img, "--kernel", img, "--accel", "tcg", "--out", out}, extra...), &stdout, &stderr)
	var c Comparison
	if _, err := os.Stat(filepath.Join(out, "comparison.json")); err == nil {
		c = readComparison(t, out)
	}
	return code, c, reruns, stderr.String()
}

func TestCompareConfirm(t *testing.T) {
	const (
		A = "clone3/plain/ver0"
		B = "clone3/plain/newpid"
	)
	F, E, P := result.Fail, result.Error, result.Pass
	for _, tc := range []struct {
		name        string
		args        []string
		sc          script
		code        int
		regressions []string
		flaky       []string
		rounds      int
		rerunCases  []string // what every confirmation run was given
	}{
		{"no regression, no re-run", nil, func(string, int, string) result.Outcome { return P }, 0, nil, nil, 0, nil},
		{"regression confirmed", nil, func(side string, _ int, id string) result.Outcome {
			if side == "patched" && id == A {
				return F
			}
			return P
		}, 1, []string{A}, nil, 1, []string{A}},
		{"a harness error that does not come back is flaky", nil, func(side string, round int, id string) result.Outcome {
			if side == "patched" && id == A && round == 0 {
				return E
			}
			return P
		}, 0, nil, []string{A}, 1, []string{A}},
		{"one confirmed, one flaky in the third round", []string{"--confirm", "3"}, func(side string, round int, id string) result.Outcome {
			switch {
			case side == "patched" && id == A:
				return F
			case side == "patched" && id == B && round != 3:
				return F
			}
			return P
		}, 1, []string{A}, []string{B}, 3, []string{A, B}},
		{"base flakes", nil, func(side string, round int, id string) result.Outcome {
			if side == "patched" && id == A || side == "base" && id == A && round == 1 {
				return F
			}
			return P
		}, 0, nil, []string{A}, 1, []string{A}},
		// A confirmation VM that fails as a whole confirms nothing: exit 3,
		// the comparison written with the regression unconfirmed.
		{"confirmation VM fails", nil, func(side string, round int, id string) result.Outcome {
			switch {
			case side == "patched" && round == 1:
				return vmFailed
			case side == "patched" && id == A:
				return F
			}
			return P
		}, 3, []string{A}, nil, 0, []string{A}},
		{"--confirm 0 takes the first answer", []string{"--confirm", "0"}, func(side string, round int, id string) result.Outcome {
			if side == "patched" && id == A {
				return E
			}
			return P
		}, 1, []string{A}, nil, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, c, reruns, stderr := scriptedCompare(t, tc.sc, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, stderr)
			}
			if strings.Join(c.Regressions, ",") != strings.Join(tc.regressions, ",") || strings.Join(c.Flaky, ",") != strings.Join(tc.flaky, ",") {
				t.Errorf("regressions %v flaky %v, want %v and %v", c.Regressions, c.Flaky, tc.regressions, tc.flaky)
			}
			if c.Confirm != tc.rounds || (tc.code != exitInfra && len(reruns) != 2*tc.rounds) {
				t.Errorf("%d rounds recorded, %d confirmation VMs; want %d rounds on both kernels", c.Confirm, len(reruns), tc.rounds)
			}
			for _, r := range reruns {
				if strings.Join(r, ",") != strings.Join(tc.rerunCases, ",") {
					t.Errorf("a confirmation run got --case %v, want exactly %v", r, tc.rerunCases)
				}
			}
			for _, cs := range c.Cases {
				if (cs.Verdict == "flaky" || cs.Verdict == "regressed") && tc.rounds > 0 && len(cs.PatchedReruns) != tc.rounds {
					t.Errorf("%s: %d patched re-runs recorded, want %d", cs.ID, len(cs.PatchedReruns), tc.rounds)
				}
			}
			for _, id := range tc.flaky {
				if !strings.Contains(stderr, "flaky") || !strings.Contains(stderr, id) {
					t.Errorf("stderr does not name flaky %s:\n%s", id, stderr)
				}
			}
		})
	}
}
