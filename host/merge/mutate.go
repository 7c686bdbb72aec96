package merge

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vmtest/vmtest/host/htmlreport"
	"github.com/vmtest/vmtest/host/mutate"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// Kind is what a result directory holds, for choosing the merge.
type Kind int

// The kinds of result directory merge joins.
const (
	RunKind      Kind = iota // result.json: vmtest run --shard K/N
	MutationKind             // mutate.json: vmtest mutate --shard K/N
)

// KindOf says whether the directories hold the shards of a run or of a
// mutation run, refusing a mix: neither merge can use the other's.
func KindOf(dirs []string) (Kind, error) {
	var runs, mutations []string
	for _, d := range dirs {
		if isFile(filepath.Join(d, mutate.JSONFile)) {
			mutations = append(mutations, d)
		} else {
			runs = append(runs, d)
		}
	}
	switch {
	case len(mutations) == 0:
		return RunKind, nil
	case len(runs) == 0:
		return MutationKind, nil
	}
	return 0, inputerr.Errorf("results", runs[0], "is not a mutation result (no %s), %s is: merge the shards of one kind of run", mutate.JSONFile, mutations[0])
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// MutationDirs merges the result directories of vmtest mutate --shard
// K/N (mutate.Merge) into the new directory out: mutate.json and
// mutate.md with the score of the whole, report.html, each mutant's run
// directory under runs/ (the shards' IDs are distinct, so are their
// directories) and each shard's build log as build-K.log. The shards'
// scratch trees are not copied. out is replaced only when it is an
// earlier vmtest result and force is set; it appears whole or not at all.
func MutationDirs(dirs []string, out string, force bool) (*mutate.Report, error) {
	if out == "" {
		return nil, inputerr.New("out", "", fmt.Errorf("no output directory given"))
	}
	if err := checkMutationOut(out, force); err != nil {
		return nil, err
	}
	out, _ = filepath.Abs(out)
	var shards []*mutate.Report
	for _, d := range dirs {
		if abs, _ := filepath.Abs(d); abs == out {
			return nil, inputerr.New("out", out, fmt.Errorf("is one of the shards being merged"))
		}
		r, err := mutate.LoadReport(d)
		if err != nil {
			return nil, inputerr.New("results", d, fmt.Errorf("is not a vmtest mutation result directory: %w", err))
		}
		shards = append(shards, r)
	}
	m, err := mutate.Merge(shards, dirs)
	if err != nil {
		return nil, err
	}
	staging, err := run.NewStaging(out)
	if err != nil {
		return nil, err
	}
	defer staging.Discard()
	stage := staging.Dir
	// Each mutant's run directory moves with it, where the shard has it.
	copied := map[string]string{}
	for i, r := range shards {
		for _, res := range r.Mutants {
			if res.ResultDir == "" {
				continue
			}
			name := filepath.Base(res.ResultDir)
			from := filepath.Join(dirs[i], "runs", name)
			if _, err := os.Stat(from); err != nil {
				continue
			}
			if err := os.MkdirAll(filepath.Join(stage, "runs"), 0o755); err != nil {
				return nil, fmt.Errorf("copy the runs: %w", err)
			}
			if err := copyDir(from, filepath.Join(stage, "runs", name)); err != nil {
				return nil, fmt.Errorf("copy the run of mutant %s: %w", res.ID, err)
			}
			copied[res.ID] = filepath.Join(out, "runs", name)
		}
		if log := filepath.Join(dirs[i], "build.log"); isFile(log) {
			if err := copyFile(log, filepath.Join(stage, fmt.Sprintf("build-%d.log", r.Shard.K))); err != nil {
				return nil, fmt.Errorf("copy the build log of shard %s: %w", r.Shard, err)
			}
		}
	}
	for i := range m.Mutants {
		if d, ok := copied[m.Mutants[i].ID]; ok {
			m.Mutants[i].ResultDir = d
		}
	}
	if err := m.Write(stage); err != nil {
		return nil, err
	}
	if err := htmlreport.WriteMutation(stage, m); err != nil {
		return nil, err
	}
	if err := staging.Commit(); err != nil {
		return nil, err
	}
	return m, nil
}

// copyFile copies a shard's file into the stage.
func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// checkMutationOut is run.CheckOut for a mutation result: an earlier one
// (mutate.json) is replaced only when forced, like an earlier run's.
func checkMutationOut(out string, force bool) error {
	if !isFile(filepath.Join(out, mutate.JSONFile)) {
		return run.CheckOut(out, force)
	}
	if !force {
		return inputerr.New("out", out, run.ErrEarlierResult)
	}
	// A mutation result of vmtest mutate, not of a merge, holds the
	// scratch tree the next mutate run would reuse: say what goes.
	if _, err := os.Stat(filepath.Join(out, "tree")); err == nil {
		return inputerr.New("out", out, errors.New("holds a vmtest mutate scratch tree (tree/), which merge does not replace: choose another --out"))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return inputerr.New("out", out, err)
	}
	return nil
}
