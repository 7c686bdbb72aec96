package bisect

import (
	"regexp"
	"strings"
)

// Verdict is what a bisection step said of a commit, in git bisect's
// words.
type Verdict string

// The verdicts git bisect records.
const (
	Good Verdict = "good"
	Bad  Verdict = "bad"
	Skip Verdict = "skip"
)

// Step is one commit a bisection judged.
type Step struct {
	Commit  string  `json:"commit"`
	Subject string  `json:"subject"`
	Verdict Verdict `json:"verdict"`
	// ResultDir is the step's vmtest result directory ("" when the step
	// wrote none, as a failed build does not).
	ResultDir string `json:"result_dir,omitempty"`
}

// logVerdict is a comment line of git bisect log: "# bad: [SHA] subject".
// The comments, not the commands, carry the subjects; the terms "old" and
// "new" of git bisect --term-* are never used by vmtest.
var logVerdict = regexp.MustCompile(`^# (good|bad|skip): \[([0-9a-f]{40,64})\] ?(.*)$`)

// ParseLog returns the steps git bisect log records, in order, the given
// good and bad endpoints included (as git records them too). The
// endpoints are the log's lines before "git bisect start"'s command line;
// the caller, which knows them, tells them apart.
func ParseLog(log string) []Step {
	var steps []Step
	for _, line := range strings.Split(log, "\n") {
		m := logVerdict.FindStringSubmatch(strings.TrimRight(line, "\r"))
		if m == nil {
			continue
		}
		steps = append(steps, Step{Commit: m[2], Subject: m[3], Verdict: Verdict(m[1])})
	}
	return steps
}

var (
	firstBadLine = regexp.MustCompile(`(?m)^([0-9a-f]{40,64}) is the first bad commit$`)
	onlySkipped  = "There are only 'skip'ped commits left to test."
	hashLine     = regexp.MustCompile(`^([0-9a-f]{40,64})$`)
)

// ParseOutcome reads git bisect run's output: the first bad commit it
// names, or, when only skipped commits were left, the commits it could
// be any of (the candidates git lists after saying so). Both are empty
// when the bisection did not end (a step aborted it).
func ParseOutcome(out string) (first string, candidates []string) {
	if m := firstBadLine.FindStringSubmatch(out); m != nil {
		return m[1], nil
	}
	i := strings.Index(out, onlySkipped)
	if i < 0 {
		return "", nil
	}
	for _, line := range strings.Split(out[i:], "\n")[1:] {
		if m := hashLine.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			candidates = append(candidates, m[1])
		}
	}
	return "", candidates
}
