package merge

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// Dirs merges the shard result directories dirs into the new result
// directory out: result.json (run.Save), what rep writes (the report formats), and a
// copy of each shard's directory as shard-K, whose console.log and QEMU
// command line belong to that shard's VM. out is replaced only when it is
// an earlier vmtest result and force is set (run.CheckOut); it appears
// whole or not at all.
func Dirs(dirs []string, out string, force bool, rep run.Reporter) (*run.Result, error) {
	if out == "" {
		return nil, inputerr.New("out", "", fmt.Errorf("no output directory given"))
	}
	if err := run.CheckOut(out, force); err != nil {
		return nil, err
	}
	out, _ = filepath.Abs(out)
	var shards []*run.Result
	for _, d := range dirs {
		abs, _ := filepath.Abs(d)
		if abs == out {
			return nil, inputerr.New("out", out, fmt.Errorf("is one of the shards being merged"))
		}
		r, err := run.Load(d)
		if err != nil {
			return nil, inputerr.New("results", d, fmt.Errorf("is not a vmtest result directory: %w", err))
		}
		shards = append(shards, r)
	}
	m, err := Results(shards, dirs, out)
	if err != nil {
		return nil, err
	}
	staging, err := run.NewStaging(out)
	if err != nil {
		return nil, err
	}
	defer staging.Discard()
	stage := staging.Dir
	for i, r := range shards {
		name := "shard-" + strconv.Itoa(r.Shard.K)
		if err := copyDir(dirs[i], filepath.Join(stage, name)); err != nil {
			return nil, fmt.Errorf("copy shard %s: %w", dirs[i], err)
		}
	}
	if err := run.Save(stage, m); err != nil {
		return nil, err
	}
	if rep != nil {
		if err := rep.Run(stage, m); err != nil {
			return nil, fmt.Errorf("write the reports: %w", err)
		}
	}
	if err := staging.Commit(); err != nil {
		return nil, err
	}
	return m, nil
}

// copyDir copies a result directory (a few small files) with cp -a.
func copyDir(from, to string) error {
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -a %s %s: %v: %s", from, to, err, out)
	}
	return nil
}
