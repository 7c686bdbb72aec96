package htmlreport

import (
	"bytes"
	"fmt"
	"html/template"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/mutate"
)

// mutationReport is a report over the real mutants of alloc_pid's set_tid
// block (host/mutate's copy of it) with outcomes dealt round-robin, so
// that every outcome occurs, some killed mutants have many killers, a
// detail holds markup the page must escape, and the first survivor is
// explained.
func mutationReport(t *testing.T) *mutate.Report {
	t.Helper()
	src, err := os.ReadFile("../mutate/testdata/alloc_pid.c")
	if err != nil {
		t.Fatal(err)
	}
	target, err := mutate.ParseTarget("alloc_pid.c:33-48")
	if err != nil {
		t.Fatal(err)
	}
	ms, err := mutate.Generate(target, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	deal := []mutate.Outcome{mutate.Killed, mutate.Killed, mutate.Survived, mutate.Killed, mutate.Stillborn, mutate.Equivalent, mutate.Duplicate, mutate.Error}
	killers := []string{"set_tid/pid/pid-max", "set_tid/args/size-1", "set_tid/userns/owner-eperm", "set_tid/nested/two", "set_tid/nested/three"}
	var rs []mutate.Result
	for i, m := range ms {
		r := mutate.Result{Mutant: m, Outcome: deal[i%len(deal)]}
		switch r.Outcome {
		case mutate.Killed:
			r.Killers = killers[:1+i%len(killers)]
		case mutate.Stillborn:
			r.Detail = "kernel/pid.c:200:7: error: <script>alert(1)</script>"
		case mutate.Duplicate:
			r.DuplicateOf = ms[0].ID
		}
		rs = append(rs, r)
	}
	unused := mutate.Explain(rs, []mutate.Explanation{
		{ID: rs[2].ID, File: rs[2].File, Function: rs[2].Func, Operator: rs[2].Operator, Code: rs[2].Code(), Original: rs[2].Original, Replacement: rs[2].Replacement, Why: "set_tid_size is 0 here <always>"},
		{ID: "stale@alloc_pid.c:1:1", File: "alloc_pid.c", Function: "alloc_pid", Operator: mutate.OpNegate, Code: "if (gone)", Why: "the code changed"},
	})
	rep := mutate.NewReport([]string{target.String()}, "/cache/build/tree-abc", rs)
	rep.Kernel, rep.UnusedExplanations = "build", unused
	return rep
}

func outcomeCount(r *mutate.Report, o mutate.Outcome) int {
	n := 0
	for _, m := range r.Mutants {
		if m.Outcome == o {
			n++
		}
	}
	return n
}

// The page is self-contained, escapes what the compiler wrote, and holds
// the score, every survivor's diff and every operator.
func TestMutationPage(t *testing.T) {
	rep := mutationReport(t)
	var b bytes.Buffer
	if err := Mutation(&b, MutationPage{Report: rep}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"[a-z]+://|@import|url\(`).FindString(page); m != "" {
		t.Errorf("page loads something from outside: %q", m)
	}
	if strings.Contains(page, "<script>alert(1)</script>") {
		t.Error("a compiler message's markup reached the page unescaped")
	}
	score := fmt.Sprintf("%.1f %%", 100*float64(rep.Counts.Killed)/float64(rep.Counts.Scored()))
	if !strings.Contains(page, "<b>"+score+"</b>score") {
		t.Errorf("page lacks the score tile %q", score)
	}
	section := func(id string) string {
		s := page[strings.Index(page, `id="`+id+`"`):]
		return s[:strings.Index(s, "</section>")]
	}
	n := 0
	for _, m := range rep.Mutants {
		if m.Outcome != mutate.Survived {
			continue
		}
		survivors := section("survivors")
		if m.Explanation != "" {
			survivors = section("explained")
			if !strings.Contains(survivors, template.HTMLEscapeString(m.Explanation)) {
				t.Errorf("the explained survivor %s is shown without its explanation", m.ID)
			}
		} else {
			n++
		}
		// The diff's added line, escaped and marked.
		var added string
		for _, l := range strings.Split(m.Diff, "\n") {
			if strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++") {
				added = l
			}
		}
		if !strings.Contains(survivors, `data-id="`+m.ID+`"`) || !strings.Contains(survivors, `<span class="add">`+template.HTMLEscapeString(added)+`</span>`) {
			t.Errorf("the survivors section lacks %s with its diff line %q", m.ID, added)
		}
	}
	if got := strings.Count(section("survivors"), `class="survivor"`); n == 0 || got != n {
		t.Errorf("%d unexplained survivors in the section, want %d", got, n)
	}
	if rep.Counts.Explained != 1 || strings.Count(section("explained"), `class="survivor"`) != 1 {
		t.Errorf("%d explained survivors, want the fixture's 1 in their section", rep.Counts.Explained)
	}
	if !strings.Contains(section("unused"), "stale@alloc_pid.c:1:1") {
		t.Error("the unused explanation is not listed")
	}
	for op := range rep.PerOperator {
		if !strings.Contains(page, `<tr data-operator="`+op+`">`) {
			t.Errorf("the operator table lacks %s", op)
		}
	}
	if got := strings.Count(page, "<tr data-state="); got != len(rep.Mutants) {
		t.Errorf("%d mutant rows, want %d", got, len(rep.Mutants))
	}
	if err := Mutation(&b, MutationPage{}); err == nil {
		t.Error("a page without a report rendered")
	}
}

// WriteMutation leaves report.html and nothing else.
func TestWriteMutation(t *testing.T) {
	dir := t.TempDir()
	if err := WriteMutation(dir, mutationReport(t)); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != File {
		t.Errorf("directory holds %v, want only %s", ents, File)
	}
	if err := WriteMutation(dir, nil); err == nil {
		t.Error("a nil report was written")
	}
}

var mutantsShownRe = regexp.MustCompile(`id="shown">(\d+) of (\d+) mutants shown`)

// TestMutationRendered loads the page in headless Chromium with filters
// in its fragment and reads what the script left visible.
func TestMutationRendered(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the headless Chromium checks take about 10 s")
	}
	browser := chromium(t)
	rep := mutationReport(t)
	file := filepath.Join(t.TempDir(), File)
	if err := WriteMutation(filepath.Dir(file), rep); err != nil {
		t.Fatal(err)
	}
	var survivor string
	for _, m := range rep.Mutants {
		if m.Outcome == mutate.Survived && survivor == "" {
			survivor = m.ID
		}
	}
	score := fmt.Sprintf("%.1f %%", 100*float64(rep.Counts.Killed)/float64(rep.Counts.Scored()))
	const killer = "set_tid/nested/three" // the fifth killer: past the first three shown
	killedBy := 0
	for _, m := range rep.Mutants {
		if slices.Contains(m.Killers, killer) {
			killedBy++
		}
	}
	if killedBy == 0 || survivor == "" {
		t.Fatalf("the fixture has no survivor or no mutant killed by %s", killer)
	}
	tests := []struct {
		name, fragment string
		wantN          int
		wantState      string
		wantIn         []string
	}{
		{"all", "", len(rep.Mutants), "", []string{"<b>" + score + "</b>score", "Survivors, unexplained: rules no test checks", "Why it is equivalent:", `class="add"`}},
		{"survivors", "#state=survived", outcomeCount(rep, mutate.Survived), "survived", nil},
		{"explained survivors", "#state=explained", rep.Counts.Explained, "survived", nil},
		{"unexplained survivors", "#state=unexplained", rep.Counts.Survived - rep.Counts.Explained, "survived", nil},
		{"all but killed", "#state=notpass", len(rep.Mutants) - rep.Counts.Killed, "", nil},
		{"one survivor by ID", "#q=" + url.QueryEscape(survivor), 1, "survived", nil},
		{"by killer", "#q=" + killer, killedBy, "killed", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkFiltered(t, dumpDOM(t, browser, file, tc.fragment), mutantsShownRe, filterWant{
				n: tc.wantN, state: tc.wantState, in: tc.wantIn,
				hiddenUnderNotpass: string(mutate.Killed), notpass: tc.fragment == "#state=notpass",
			})
		})
	}
}
