package compare

import (
	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/run"
)

// The files at the top of a comparison directory. Beside them are each
// side's result directory (base/, patched/) and, when regressions were
// re-run, one directory per confirmation round (confirm-1/base/, ...).
const (
	JSONFile     = "comparison.json"
	MarkdownFile = "comparison.md"
)

// Comparison is comparison.json: both kernels and their runs, the verdict
// of every case, and what needs attention.
type Comparison struct {
	Base    SideResult `json:"base"`
	Patched SideResult `json:"patched"`
	// Summary counts the cases of each verdict.
	Summary map[Verdict]int `json:"summary"`
	// Regressions lists the regressed cases (confirmed, when re-run);
	// never null, so that a CI script can test its length.
	Regressions []string `json:"regressions"`
	// Flaky lists the cases that regressed at first and gave another
	// answer when re-run; Confirm is how many re-run rounds there were
	// (0 when none were asked for, nothing regressed or a round's VM failed
	// as a whole).
	Flaky   []string `json:"flaky"`
	Confirm int      `json:"confirm_rounds"`
	Cases   []Case   `json:"cases"`
}

// SideResult is one kernel of the comparison: where it came from and its
// first run (the confirmation runs have result directories of their own).
type SideResult struct {
	// Source is the kernel as given: a bzImage path, debian, a build spec
	// or an earlier result directory.
	Source string `json:"source"`
	// Kind is run.KernelKind: bzimage, debian, build or result.
	Kind string `json:"kind"`
	// Build is the build manifest of a build spec.
	Build *kbuild.Manifest `json:"build,omitempty"`
	// Result is the side's result.json (the earlier one, for a result
	// directory).
	Result *run.Result `json:"result"`
}
