package bisect

import (
	"slices"
	"testing"
)

// skippedLog and skippedOutput are what git 2.39 printed for a bisection
// of c1 (good) .. c5 (bad) where c3 was skipped and c4 bad.
const skippedLog = `# bad: [cd7d6a3df826b626bf07c0c6b0f0187a7c4e0ff8] c5
# good: [c3998a3be8553ab76ad3a19f631ea9c39d0a7631] c1
git bisect start 'HEAD' 'HEAD~4'
# skip: [cfb5fe8c77574852e99d2e006cc0414d75877b6e] c3
git bisect skip cfb5fe8c77574852e99d2e006cc0414d75877b6e
# good: [11e426bb60dfe9eb65e0e41cf04c9b71b153b153] c2: with a colon
git bisect good 11e426bb60dfe9eb65e0e41cf04c9b71b153b153
# bad: [35ce6113fd63920ed7315463b98f7313c875e56e] c4
git bisect bad 35ce6113fd63920ed7315463b98f7313c875e56e
# only skipped commits left to test
# possible first bad commit: [35ce6113fd63920ed7315463b98f7313c875e56e] c4
# possible first bad commit: [cfb5fe8c77574852e99d2e006cc0414d75877b6e] c3
`

const skippedOutput = `running  'sh' '-c' 'exit 1'
Bisecting: 0 revisions left to test after this (roughly 1 step)
[35ce6113fd63920ed7315463b98f7313c875e56e] c4
There are only 'skip'ped commits left to test.
The first bad commit could be any of:
cfb5fe8c77574852e99d2e006cc0414d75877b6e
35ce6113fd63920ed7315463b98f7313c875e56e
We cannot bisect more!
`

const foundOutput = `running  'vmtest' 'bisect-step'
Bisecting: 0 revisions left to test after this (roughly 0 steps)
[11e426bb60dfe9eb65e0e41cf04c9b71b153b153] c2
running  'vmtest' 'bisect-step'
35ce6113fd63920ed7315463b98f7313c875e56e is the first bad commit
commit 35ce6113fd63920ed7315463b98f7313c875e56e
Author: t <t@e>

    c4 mentions cfb5fe8c77574852e99d2e006cc0414d75877b6e is the first bad commit in its body
`

func TestParseLog(t *testing.T) {
	got := ParseLog(skippedLog)
	want := []Step{
		{Commit: "cd7d6a3df826b626bf07c0c6b0f0187a7c4e0ff8", Subject: "c5", Verdict: Bad},
		{Commit: "c3998a3be8553ab76ad3a19f631ea9c39d0a7631", Subject: "c1", Verdict: Good},
		{Commit: "cfb5fe8c77574852e99d2e006cc0414d75877b6e", Subject: "c3", Verdict: Skip},
		{Commit: "11e426bb60dfe9eb65e0e41cf04c9b71b153b153", Subject: "c2: with a colon", Verdict: Good},
		{Commit: "35ce6113fd63920ed7315463b98f7313c875e56e", Subject: "c4", Verdict: Bad},
	}
	if !slices.Equal(got, want) {
		t.Errorf("ParseLog:\n got %+v\nwant %+v", got, want)
	}
	if s := ParseLog("git bisect start\n# status: waiting for both good and bad commits\n"); len(s) != 0 {
		t.Errorf("a log without verdicts: %+v", s)
	}
}

func TestParseOutcome(t *testing.T) {
	for _, tc := range []struct {
		name       string
		out        string
		first      string
		candidates []string
	}{
		{"found", foundOutput, "35ce6113fd63920ed7315463b98f7313c875e56e", nil},
		{"only skipped", skippedOutput, "", []string{"cfb5fe8c77574852e99d2e006cc0414d75877b6e", "35ce6113fd63920ed7315463b98f7313c875e56e"}},
		{"aborted", "running 'x'\nbisect run failed:\nexit code 128 from 'x' is < 0 or >= 128\n", "", nil},
		{"nothing", "", "", nil},
	} {
		first, cands := ParseOutcome(tc.out)
		if first != tc.first || !slices.Equal(cands, tc.candidates) {
			t.Errorf("%s: %q %v, want %q %v", tc.name, first, cands, tc.first, tc.candidates)
		}
	}
}

func TestStatusVerdict(t *testing.T) {
	for _, tc := range []struct {
		code  int
		want  Verdict
		abort bool
	}{
		{0, Good, false}, {1, Bad, false}, {2, Bad, false}, {3, Bad, false}, {124, Bad, false}, {125, Skip, false},
		{126, Bad, false}, {127, Bad, false}, {128, "", true}, {130, "", true}, {-1, "", true},
	} {
		v, err := StatusVerdict(tc.code)
		if v != tc.want || (err != nil) != tc.abort {
			t.Errorf("exit %d: %q %v, want %q abort %v", tc.code, v, err, tc.want, tc.abort)
		}
	}
}
