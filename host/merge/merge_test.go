package merge

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/inputerr"
	"github.com/vmtest/vmtest/internal/result"
)

// shardResults cuts a whole run of the catalog into n shard results, as
// n VMs of `vmtest run --shard K/n` would report them.
func shardResults(n int, sha string) []*run.Result {
	var out []*run.Result
	for k := 1; k <= n; k++ {
		sh := catalog.Shard{K: k, N: n}
		r := &run.Result{RunID: "r" + sh.String(), Status: run.Completed, Accel: "tcg", Shard: &sh}
		r.Kernel.SHA256, r.Kernel.Release = sha, "6.1.0"
		r.Timings.TotalMS, r.Timings.GuestSumMS = float64(1000*k), 10
		for _, c := range sh.Pick(catalog.All()) {
			r.Cases = append(r.Cases, result.Case{ID: c.ID, Group: c.Group, Outcome: result.Pass})
		}
		// A VM reports in its own order; the merge must not depend on it.
		slices.Reverse(r.Cases)
		out = append(out, r)
	}
	return out
}

func names(n int) []string {
	var d []string
	for i := range n {
		d = append(d, filepath.Join("s", string(rune('a'+i))))
	}
	return d
}

func TestResults(t *testing.T) {
	all := catalog.All()
	good := shardResults(4, "aa")
	m, err := Results(good, names(4), "/out")
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Cases) != len(all) || m.Summary[result.Pass] != len(all) {
		t.Fatalf("merged %d cases, summary %v; want %d", len(m.Cases), m.Summary, len(all))
	}
	for i, c := range m.Cases {
		if c.ID != all[i].ID {
			t.Fatalf("case %d is %s, a whole run has %s there", i, c.ID, all[i].ID)
		}
	}
	if m.Timings.TotalMS != 4000 || m.Timings.GuestSumMS != 40 || len(m.Merged) != 4 || m.Shard != nil || m.QEMU.Dir != "/out" {
		t.Errorf("merged timings %+v, merged %v, shard %v", m.Timings, m.Merged, m.Shard)
	}
	// A shard that crashed makes the merged run crashed.
	crashed := shardResults(2, "aa")
	crashed[1].Status, crashed[1].CrashTitle = run.Crashed, "BUG: x"
	if m, err := Results(crashed, names(2), "/out"); err != nil || m.Status != run.Crashed || m.CrashTitle != "BUG: x" {
		t.Errorf("merge with a crashed shard: %v, %v", m.Status, err)
	}

	for _, tc := range []struct {
		name   string
		shards func() []*run.Result
		want   string
	}{
		{"nothing", func() []*run.Result { return nil }, "nothing to merge"},
		{"other kernel", func() []*run.Result { s := shardResults(2, "aa"); s[1].Kernel.SHA256 = "bb"; return s }, "shards of one run boot one kernel"},
		{"missing shard", func() []*run.Result { return shardResults(3, "aa")[:2] }, "lack shard 3/3"},
		{"same shard twice", func() []*run.Result { s := shardResults(2, "aa"); return []*run.Result{s[0], s[0], s[1]} }, "again"},
		{"other N", func() []*run.Result { return append(shardResults(2, "aa"), shardResults(3, "aa")[2]) }, "share N"},
		{"merged result", func() []*run.Result {
			s := shardResults(1, "aa")
			s[0].Shard, s[0].Merged = nil, []catalog.Shard{{K: 1, N: 1}}
			return s
		}, "already a merged"},
		{"whole run", func() []*run.Result { s := shardResults(1, "aa"); s[0].Shard = nil; return s }, "not a shard"},
		{"overlapping cases", func() []*run.Result {
			s := shardResults(2, "aa")
			s[1].Cases = append(s[1].Cases, s[0].Cases[0])
			return s
		}, "overlap"},
	} {
		s := tc.shards()
		_, err := Results(s, names(len(s)), "/out")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, inputerr.ErrBadInput) {
			t.Errorf("%s: %v; want bad input saying %q", tc.name, err, tc.want)
		}
	}
}

// TestDirs: the merged directory holds result.json, what the reporter
// writes and each shard's copy; a merge of merges equals the merge of all.
func TestDirs(t *testing.T) {
	tmp := t.TempDir()
	var dirs []string
	for _, r := range shardResults(4, "aa") {
		d := filepath.Join(tmp, "shard"+r.Shard.String()[:1])
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		writeResult(t, d, r)
		os.WriteFile(filepath.Join(d, "console.log"), []byte("boot "+r.Shard.String()), 0o644)
		dirs = append(dirs, d)
	}
	rep := &recorder{}
	out := filepath.Join(tmp, "merged")
	m, err := Dirs(dirs, out, false, rep)
	if err != nil {
		t.Fatal(err)
	}
	if rep.dir == "" || rep.res != m {
		t.Error("the reporter was not called with the merged result")
	}
	back, err := run.Load(out)
	if err != nil || len(back.Cases) != len(catalog.All()) {
		t.Fatalf("merged result.json: %v, %d cases", err, len(back.Cases))
	}
	if b, _ := os.ReadFile(filepath.Join(out, "shard-3", "console.log")); string(b) != "boot 3/4" {
		t.Errorf("shard-3/console.log = %q", b)
	}
	// Merging into an existing result needs force.
	if _, err := Dirs(dirs, out, false, nil); err == nil {
		t.Error("merge replaced an earlier result without force")
	}
	// Half the shards are no merged result, and nothing is left behind.
	half := filepath.Join(tmp, "half")
	if _, err := Dirs(dirs[:2], half, false, nil); err == nil {
		t.Error("a merge of half the shards succeeded")
	}
	if _, err := os.Stat(half); err == nil {
		t.Error("a refused merge left its directory")
	}
	// A merged result is not a shard.
	if _, err := Dirs([]string{out}, filepath.Join(tmp, "again"), false, nil); err == nil || !strings.Contains(err.Error(), "already a merged result") {
		t.Errorf("merging a merged result: %v", err)
	}
}

type recorder struct {
	dir string
	res *run.Result
}

func (r *recorder) Run(dir string, res *run.Result) error {
	r.dir, r.res = dir, res
	return nil
}

func (r *recorder) Repeat(string, *run.RepeatResult, []*run.Result) error { return nil }

func writeResult(t *testing.T, dir string, r *run.Result) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "result.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}
