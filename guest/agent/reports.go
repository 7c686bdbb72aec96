//go:build linux

package agent

import (
	"strings"
	"sync/atomic"

	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/result"
)

// runningCases tracks which case each worker slot is running, so that a
// kernel report can name the cases that ran beside the one it is charged
// to.
type runningCases [matrix.MaxSlots]atomic.Pointer[string]

func (rc *runningCases) set(slot int, id string) {
	if slot < 0 || slot >= len(rc) {
		return
	}
	if id == "" {
		rc[slot].Store(nil)
		return
	}
	rc[slot].Store(&id)
}

// others lists the cases running on the other slots.
func (rc *runningCases) others(slot int) []string {
	var ids []string
	for i := range rc {
		if i == slot {
			continue
		}
		if id := rc[i].Load(); id != nil {
			ids = append(ids, *id)
		}
	}
	return ids
}

// chargeReports makes r an error when the kernel logged WARNING or BUG
// reports while it ran: a kernel that complains has not passed, whatever
// the answer was. The reports are charged to the case whose end first
// saw them; beside names the cases that were running on other workers at
// that moment, which may be the real cause (exclusive cases run alone).
func chargeReports(r result.Case, titles []string, beside []string) result.Case {
	if len(titles) == 0 {
		return r
	}
	why := result.KernelReportPrefix + strings.Join(titles, "; ") + result.KernelReportSuffix
	if len(beside) > 0 {
		why += " (beside it ran " + strings.Join(beside, ", ") + ")"
	}
	if r.Reason != "" {
		why += "; the case itself: " + string(r.Outcome) + ": " + r.Reason
	}
	r.Outcome, r.Reason = result.Error, why
	return r
}
