// Package merge joins the results of a sharded run (vmtest run --shard K/N,
// one VM per CI job) into the one result a whole run would have given: the
// same cases in matrix order, one summary, every report format. It refuses
// results that cannot be one run: of different kernels, overlapping in
// their cases, of different shard counts, or missing a shard. The shards
// of a mutation run (vmtest mutate --shard K/N) are joined the same way
// (MutationDirs, with mutate.Merge).
package merge

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/inputerr"
	"github.com/vmtest/vmtest/internal/result"
)

// Results merges shard results, given in any order, into a new Result for
// the directory out (its QEMU.Dir). The input results are not changed.
// Errors about the inputs match inputerr.ErrBadInput.
func Results(shards []*run.Result, dirs []string, out string) (*run.Result, error) {
	if len(shards) == 0 {
		return nil, inputerr.New("results", "", errors.New("nothing to merge: name the shards' result directories"))
	}
	if len(dirs) != len(shards) {
		return nil, fmt.Errorf("merge: %d results but %d directories", len(shards), len(dirs))
	}
	first := shards[0]
	n := 0
	var ks []catalog.Shard
	for i, r := range shards {
		if r.Kernel.SHA256 != first.Kernel.SHA256 {
			return nil, inputerr.New("results", dirs[i], fmt.Errorf("ran kernel %s (sha256 %.12s), %s ran %s (sha256 %.12s): shards of one run boot one kernel",
				r.Kernel.Release, r.Kernel.SHA256, dirs[0], first.Kernel.Release, first.Kernel.SHA256))
		}
		if len(r.Merged) > 0 {
			return nil, inputerr.New("results", dirs[i], errors.New("is already a merged result: merge the shards' own directories"))
		}
		if r.Shard == nil {
			return nil, inputerr.New("results", dirs[i], errors.New("is a whole run, not a shard (run --shard K/N)"))
		}
		s := *r.Shard
		if n == 0 {
			n = s.N
		}
		if s.N != n {
			return nil, inputerr.New("results", dirs[i], fmt.Errorf("is shard %s, the others are of %d: shards of one run share N", s, n))
		}
		if slices.Contains(ks, s) {
			return nil, inputerr.New("results", dirs[i], fmt.Errorf("is shard %s again: each shard once", s))
		}
		ks = append(ks, s)
	}
	var missing []string
	for k := 1; k <= n; k++ {
		if !slices.Contains(ks, catalog.Shard{K: k, N: n}) {
			missing = append(missing, fmt.Sprintf("%d/%d", k, n))
		}
	}
	if len(missing) > 0 {
		return nil, inputerr.New("results", strings.Join(dirs, " "), fmt.Errorf("lack shard %s: a merged result must hold every case", strings.Join(missing, ", ")))
	}
	slices.SortFunc(ks, func(a, b catalog.Shard) int { return cmp.Compare(a.K, b.K) })

	m := &run.Result{Merged: ks, Accel: first.Accel, Status: run.Completed, Guest: first.Guest}
	m.RunID = first.RunID + "-merged"
	m.Kernel = first.Kernel
	m.QEMU.Dir = out
	m.QEMU.Cmdline, m.QEMU.Argv = first.QEMU.Cmdline, first.QEMU.Argv
	m.Timings.StartedAt = first.Timings.StartedAt
	owner := map[string]string{}
	var warnings, details []string
	for i, r := range shards {
		for _, c := range r.Cases {
			if d, ok := owner[c.ID]; ok {
				return nil, inputerr.New("results", dirs[i], fmt.Errorf("has case %s, which %s has too: the shards overlap", c.ID, d))
			}
			owner[c.ID] = dirs[i]
			m.Cases = append(m.Cases, c)
		}
		if r.Accel != m.Accel {
			m.Accel = "mixed"
		}
		if r.AccelWarning != "" && !slices.Contains(warnings, r.AccelWarning) {
			warnings = append(warnings, r.AccelWarning)
		}
		if m.AccelFallback == nil {
			m.AccelFallback = r.AccelFallback
		}
		// The first shard that did not complete decides the status; its
		// crash is the merged run's.
		if r.Status != run.Completed && m.Status == run.Completed {
			m.Status, m.Crash, m.CrashTitle = r.Status, r.Crash, r.CrashTitle
		}
		if r.StatusDetail != "" {
			details = append(details, fmt.Sprintf("%s: %s", dirs[i], r.StatusDetail))
		}
		if m.CrashTitle == "" {
			m.CrashTitle = r.CrashTitle // a report a case survived
		}
		if r.Timings.StartedAt.Before(m.Timings.StartedAt) {
			m.Timings.StartedAt = r.Timings.StartedAt
		}
		// Shards run side by side: the merged run took as long as the
		// slowest of them; the guest's case time adds up.
		m.Timings.BootMS = max(m.Timings.BootMS, r.Timings.BootMS)
		m.Timings.CasesMS = max(m.Timings.CasesMS, r.Timings.CasesMS)
		m.Timings.TotalMS = max(m.Timings.TotalMS, r.Timings.TotalMS)
		m.Timings.GuestSumMS += r.Timings.GuestSumMS
	}
	m.AccelWarning = strings.Join(warnings, "; ")
	m.StatusDetail = strings.Join(details, "; ")
	sortRunOrder(m.Cases)
	m.Summary = map[result.Outcome]int{}
	for _, c := range m.Cases {
		m.Summary[c.Outcome]++
	}
	if m.Timings.StartedAt.IsZero() {
		m.Timings.StartedAt = time.Now().UTC()
	}
	return m, nil
}

// sortRunOrder puts cases in the matrix's order (the catalog's), which is
// the order a whole run reports them in; cases the catalog does not know
// (a newer matrix) go last, by ID.
func sortRunOrder(cs []result.Case) {
	rank := map[string]int{}
	for i, c := range catalog.All() {
		rank[c.ID] = i
	}
	slices.SortStableFunc(cs, func(a, b result.Case) int {
		ra, oka := rank[a.ID]
		rb, okb := rank[b.ID]
		switch {
		case oka && okb:
			return cmp.Compare(ra, rb)
		case oka:
			return -1
		case okb:
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
}
