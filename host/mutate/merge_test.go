package mutate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// fakeBuild is what building and booting a mutant gives, made up per
// mutant index but the same for the same object code, as a real kernel
// would: some do not compile, some compile to the original's code, and
// mutants ten apart share their code (so that, dealt by Shard to three
// shards, they land in different shards).
func fakeBuild(i int) (digest string, stillborn bool) {
	switch {
	case i%11 == 5:
		return "", true
	case i%7 == 3:
		return "original", false
	}
	return fmt.Sprintf("code-%d", i%10), false
}

// simulate decides mutants as Run does, from fakeBuild: within this run,
// the first mutant with some code is booted, later ones are duplicates.
func simulate(ms []Mutant, index map[string]int) []Result {
	var rs []Result
	seen := map[string]string{}
	for _, m := range ms {
		r := Result{Mutant: m}
		digest, stillborn := fakeBuild(index[m.ID])
		r.ObjectSHA = digest
		switch {
		case stillborn:
			r.Outcome, r.Detail = Stillborn, "error: expected ';'"
		case digest == "original":
			r.Outcome = Equivalent
		case seen[digest] != "":
			r.Outcome, r.DuplicateOf = Duplicate, seen[digest]
		default:
			seen[digest] = m.ID
			// Code ending in an even digit is caught by one case.
			if (digest[len(digest)-1]-'0')%2 == 0 {
				r.Outcome, r.Killers, r.RunStatus = Killed, []string{"set_tid/case-" + digest}, "completed"
			} else {
				r.Outcome, r.RunStatus = Survived, "completed"
			}
		}
		rs = append(rs, r)
	}
	for i := range rs {
		if rs[i].Outcome == Duplicate {
			for _, d := range rs {
				if d.ID == rs[i].DuplicateOf {
					rs[i].Killers, rs[i].RunStatus = d.Killers, d.RunStatus
				}
			}
		}
	}
	return rs
}

// mutantsOfAllocPid are the mutants of alloc_pid's set_tid block.
func mutantsOfAllocPid(t *testing.T) ([]Mutant, map[string]int) {
	t.Helper()
	src := readTestdata(t, "alloc_pid.c")
	ms, err := Generate(Target{File: "alloc_pid.c", First: 33, Last: 48}, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]int{}
	for i, m := range ms {
		index[m.ID] = i
	}
	return ms, index
}

// shardedRun is a whole run and its n shards, dealt by Shard.
func shardedRun(t *testing.T, n int) (*Report, []*Report) {
	t.Helper()
	ms, index := mutantsOfAllocPid(t)
	targets := []string{"alloc_pid.c:33-48"}
	whole := NewReport(targets, "", simulate(ms, index))
	whole.Kernel = "build"
	var shards []*Report
	for k := 1; k <= n; k++ {
		mine := Shard(ms, catalog.Shard{K: k, N: n})
		r := NewReport(targets, fmt.Sprintf("/runner-%d/tree", k), simulate(mine, index))
		r.Kernel, r.Shard, r.Generated = "build", &catalog.Shard{K: k, N: n}, len(ms)
		shards = append(shards, r)
	}
	return whole, shards
}

func shardNames(n int) []string {
	var s []string
	for k := 1; k <= n; k++ {
		s = append(s, fmt.Sprintf("shard-%d", k))
	}
	return s
}

func TestMerge(t *testing.T) {
	whole, shards := shardedRun(t, 3)
	before, _ := json.Marshal(shards)
	// In any order.
	given := []*Report{shards[2], shards[0], shards[1]}
	m, err := Merge(given, shardNames(3))
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(shards); string(after) != string(before) {
		t.Error("Merge changed its inputs")
	}
	if m.Counts != whole.Counts || m.Score != whole.Score || !reflect.DeepEqual(m.PerOperator, whole.PerOperator) {
		t.Errorf("merged counts %+v score %v, a whole run gives %+v score %v", m.Counts, m.Score, whole.Counts, whole.Score)
	}
	if m.Shard != nil || m.Generated != whole.Generated || m.Kernel != "build" || m.Tree != "" {
		t.Errorf("merged shard %v, generated %d, kernel %q, tree %q", m.Shard, m.Generated, m.Kernel, m.Tree)
	}
	if len(m.Mutants) != len(whole.Mutants) {
		t.Fatalf("%d mutants merged, want %d", len(m.Mutants), len(whole.Mutants))
	}
	// The whole run's mutants, in its order, with its outcomes.
	crossShard := 0
	for i, w := range whole.Mutants {
		g := m.Mutants[i]
		if g.ID != w.ID || g.Outcome != w.Outcome || g.DuplicateOf != w.DuplicateOf || !slices.Equal(g.Killers, w.Killers) {
			t.Errorf("mutant %d: %s %s (of %q, killers %v); a whole run has %s %s (of %q, killers %v)",
				i, g.ID, g.Outcome, g.DuplicateOf, g.Killers, w.ID, w.Outcome, w.DuplicateOf, w.Killers)
		}
		if strings.Contains(g.Detail, "its own shard ran it too") {
			crossShard++
		}
	}
	if crossShard == 0 {
		t.Error("no mutant booted in its own shard was folded into an earlier one's: the fixture does not test folding")
	}
}

func TestMergeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		shards func() []*Report
		want   string
	}{
		{"nothing", func() []*Report { return nil }, "nothing to merge"},
		{"whole run", func() []*Report {
			_, s := shardedRun(t, 2)
			s[1].Shard = nil
			return s
		}, "not a shard"},
		{"other kernel", func() []*Report {
			_, s := shardedRun(t, 2)
			s[1].Kernel = "build:patch=x.patch"
			return s
		}, "mutate one kernel"},
		{"other tree without a kernel", func() []*Report {
			_, s := shardedRun(t, 2)
			s[0].Kernel, s[1].Kernel = "", ""
			return s
		}, "mutate one kernel"},
		{"other source", func() []*Report {
			_, s := shardedRun(t, 2)
			// A newer release under the same spec: a comment added.
			for i := range s[1].Mutants {
				s[1].Mutants[i].Diff = strings.ReplaceAll(s[1].Mutants[i].Diff, "\n \t\t\tretval = -EINVAL;", "\n \t\t\tretval = -EINVAL; /* bad tid */")
			}
			return s
		}, "mutated other source: alloc_pid.c:36 reads"},
		{"other targets", func() []*Report {
			_, s := shardedRun(t, 2)
			s[1].Targets = []string{"kernel/fork.c:copy_clone_args_from_user"}
			return s
		}, "share --target"},
		{"other operators", func() []*Report {
			_, s := shardedRun(t, 2)
			s[1].Generated = 12
			return s
		}, "share the source, targets and --operator"},
		{"other N", func() []*Report {
			_, s2 := shardedRun(t, 2)
			_, s3 := shardedRun(t, 3)
			return []*Report{s2[0], s2[1], s3[2]}
		}, "share N"},
		{"same shard twice", func() []*Report {
			_, s := shardedRun(t, 2)
			return []*Report{s[0], s[1], s[0]}
		}, "again"},
		{"overlap", func() []*Report {
			_, s := shardedRun(t, 2)
			s[1].Mutants = append(s[1].Mutants, s[0].Mutants[0])
			return s
		}, "the shards overlap"},
		{"missing shard", func() []*Report {
			_, s := shardedRun(t, 3)
			return []*Report{s[0], s[2]}
		}, "lack shard 2/3"},
		{"incomplete shard", func() []*Report {
			_, s := shardedRun(t, 2)
			s[1].Mutants = s[1].Mutants[1:]
			return s
		}, "the report is incomplete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.shards()
			_, err := Merge(s, shardNames(len(s)))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, inputerr.ErrBadInput) {
				t.Errorf("%v; want bad input saying %q", err, tc.want)
			}
		})
	}
}

// An explanation is unused in the merge only if no shard used it.
func TestMergeUnusedExplanations(t *testing.T) {
	_, s := shardedRun(t, 2)
	a := Explanation{File: "alloc_pid.c", Operator: OpNegate, Code: "a", Why: "x"}
	b := Explanation{File: "alloc_pid.c", Operator: OpNegate, Code: "b", Why: "y"}
	s[0].UnusedExplanations = []Explanation{a, b}
	s[1].UnusedExplanations = []Explanation{b}
	m, err := Merge(s, shardNames(2))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(m.UnusedExplanations, []Explanation{b}) {
		t.Errorf("unused %v, want only %v", m.UnusedExplanations, b)
	}
}

func TestLoadReport(t *testing.T) {
	dir := t.TempDir()
	_, s := shardedRun(t, 2)
	if err := s[0].Write(dir); err != nil {
		t.Fatal(err)
	}
	r, err := LoadReport(dir)
	if err != nil || !reflect.DeepEqual(r.Mutants, s[0].Mutants) || *r.Shard != *s[0].Shard {
		t.Fatalf("read back %v: %+v", err, r)
	}
	for _, tc := range []struct{ name, json, want string }{
		{"not JSON", "{", "mutate.json: unexpected end of JSON input"},
		{"no targets", `{"mutants": []}`, "no targets"},
		{"unknown outcome", `{"targets": ["a.c:f"], "mutants": [{"id": "x", "outcome": "sleepy"}]}`, "unknown outcome"},
		{"no ID", `{"targets": ["a.c:f"], "mutants": [{"outcome": "killed"}]}`, "no id"},
	} {
		d := t.TempDir()
		os.WriteFile(filepath.Join(d, JSONFile), []byte(tc.json), 0o644)
		if _, err := LoadReport(d); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v; want %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadReport(t.TempDir()); err == nil {
		t.Error("a directory without mutate.json was read")
	}
}
