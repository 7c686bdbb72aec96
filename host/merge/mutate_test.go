package merge

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/htmlreport"
	"github.com/vmtest/vmtest/host/mutate"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// mutationShards writes the n shard directories of a mutation run of
// alloc_pid's set_tid block as CI jobs would upload them: mutate.json,
// mutate.md, build.log, a run directory per booted mutant (named by the
// runner's path in mutate.json) and the scratch tree.
func mutationShards(t *testing.T, n int) []string {
	t.Helper()
	src, err := os.ReadFile("../mutate/testdata/alloc_pid.c")
	if err != nil {
		t.Fatal(err)
	}
	target := mutate.Target{File: "alloc_pid.c", First: 33, Last: 48}
	ms, err := mutate.Generate(target, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	var dirs []string
	for k := 1; k <= n; k++ {
		dir := filepath.Join(root, fmt.Sprintf("shard-%d", k))
		var rs []mutate.Result
		for i, m := range ms {
			if !slices.Contains(mutate.Shard(ms, catalog.Shard{K: k, N: n}), m) {
				continue
			}
			r := mutate.Result{Mutant: m, Outcome: mutate.Killed, Killers: []string{"set_tid/pid/pid-max"}, ObjectSHA: fmt.Sprint("code-", i)}
			if i%4 == 1 {
				r.Outcome, r.Killers = mutate.Survived, nil
			}
			name := strings.NewReplacer("@", "_", ":", "_", "#", "_", "/", "_").Replace(m.ID)
			r.ResultDir = "/runner/results/mutate/runs/" + name
			mkfile(t, filepath.Join(dir, "runs", name, "result.json"), "{}")
			rs = append(rs, r)
		}
		rep := mutate.NewReport([]string{target.String()}, "/runner/results/mutate/tree", rs)
		rep.Kernel, rep.Shard, rep.Generated = "build", &catalog.Shard{K: k, N: n}, len(ms)
		if err := rep.Write(dir); err != nil {
			t.Fatal(err)
		}
		mkfile(t, filepath.Join(dir, "build.log"), fmt.Sprintf("build of shard %d\n", k))
		mkfile(t, filepath.Join(dir, "tree", "src", "Makefile"), "all:\n")
		dirs = append(dirs, dir)
	}
	return dirs
}

func mkfile(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMutationDirs(t *testing.T) {
	dirs := mutationShards(t, 3)
	out := filepath.Join(t.TempDir(), "merged")
	m, err := MutationDirs(dirs, out, false)
	if err != nil {
		t.Fatal(err)
	}
	back, err := mutate.LoadReport(out)
	if err != nil {
		t.Fatal(err)
	}
	if back.Shard != nil || back.Counts != m.Counts || back.Counts.Total != back.Generated || back.Counts.Survived == 0 {
		t.Errorf("merged mutate.json: shard %v, counts %+v of %d generated", back.Shard, back.Counts, back.Generated)
	}
	for _, f := range []string{"mutate.md", htmlreport.File, "build-1.log", "build-3.log"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("merged directory lacks %s", f)
		}
	}
	if _, err := os.Stat(filepath.Join(out, "tree")); err == nil {
		t.Error("a shard's scratch tree was copied")
	}
	for _, r := range back.Mutants {
		if _, err := os.Stat(filepath.Join(r.ResultDir, "result.json")); err != nil || !strings.HasPrefix(r.ResultDir, out) {
			t.Errorf("mutant %s: result directory %s not in the merge", r.ID, r.ResultDir)
		}
	}
	if md, _ := os.ReadFile(filepath.Join(out, "mutate.md")); !strings.Contains(string(md), fmt.Sprintf("%d killed of %d scored", m.Counts.Killed, m.Counts.Scored())) {
		t.Errorf("mutate.md lacks the merged score:\n%s", md)
	}

	// An earlier merge is replaced only when forced.
	if _, err := MutationDirs(dirs, out, false); !errors.Is(err, run.ErrEarlierResult) {
		t.Errorf("merge over an earlier one without force: %v", err)
	}
	if _, err := MutationDirs(dirs, out, true); err != nil {
		t.Errorf("merge over an earlier one with force: %v", err)
	}
	// A vmtest mutate directory keeps its scratch tree, forced or not.
	if _, err := MutationDirs(dirs[1:], dirs[0], true); err == nil || !strings.Contains(err.Error(), "scratch tree") {
		t.Errorf("merge into a shard's directory: %v", err)
	}
}

// A refused merge leaves nothing behind, and says why.
func TestMutationDirsRefused(t *testing.T) {
	dirs := mutationShards(t, 3)
	parent := t.TempDir()
	out := filepath.Join(parent, "merged")
	notMutation := t.TempDir()
	for _, tc := range []struct {
		name string
		dirs []string
		want string
	}{
		{"missing shard", dirs[:2], "lack shard 3/3"},
		{"same shard twice", append(dirs[:3:3], dirs[0]), "again"},
		{"not a mutation result", []string{dirs[0], notMutation}, "is not a vmtest mutation result directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := MutationDirs(tc.dirs, out, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, inputerr.ErrBadInput) {
				t.Errorf("%v; want bad input saying %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(parent); len(ents) != 0 {
				t.Errorf("a refused merge left %v", ents)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	mut := mutationShards(t, 2)
	runDir := t.TempDir()
	mkfile(t, filepath.Join(runDir, run.ResultFile), "{}")
	for _, tc := range []struct {
		name string
		dirs []string
		want Kind
		err  string
	}{
		{"runs", []string{runDir}, RunKind, ""},
		{"mutations", mut, MutationKind, ""},
		{"mixed", []string{mut[0], runDir}, 0, "is not a mutation result"},
	} {
		k, err := KindOf(tc.dirs)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, inputerr.ErrBadInput) {
				t.Errorf("%s: %v; want bad input saying %q", tc.name, err, tc.err)
			}
			continue
		}
		if err != nil || k != tc.want {
			t.Errorf("%s: kind %v, %v; want %v", tc.name, k, err, tc.want)
		}
	}
}
