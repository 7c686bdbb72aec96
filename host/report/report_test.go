package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/internal/catalog"
	"github.com/vmtest/vmtest/internal/result"
)

func sampleCases() []result.Case {
	return []result.Case{
		{ID: "plain.free-pid", Outcome: result.Pass, Expected: &result.Answer{PID: 300}, Observed: &result.Answer{PID: 300, NSpid: []int{300}}, Reason: "hidden on pass", Info: "2 races"},
		{ID: "plain.taken-pid", Outcome: result.Fail, Expected: &result.Answer{Errno: "EEXIST"}, Observed: &result.Answer{PID: 301}, Reason: "got a child"},
		{ID: "userns.depth2", Outcome: result.Skip, Reason: "kernel lacks user namespaces"},
		{ID: "args.e2big", Outcome: result.Unsupported, Reason: "kernel has no clone3 (ENOSYS)"},
		{ID: "nested.crash", Outcome: result.Error, Expected: &result.Answer{}, Reason: "setup: EPERM"},
		{ID: "plain.again", Outcome: result.Pass},
	}
}

func TestCases(t *testing.T) {
	var buf bytes.Buffer
	Cases(&buf, sampleCases())
	want := "" +
		"CASE             OUTCOME      EXPECTED  OBSERVED             NOTE\n" +
		"plain.free-pid   pass         pid 300   pid 300 nspid [300]  2 races\n" +
		"plain.taken-pid  fail         EEXIST    pid 301              got a child\n" +
		"userns.depth2    skip         -         -                    kernel lacks user namespaces\n" +
		"args.e2big       unsupported  -         -                    kernel has no clone3 (ENOSYS)\n" +
		"nested.crash     error        success   -                    setup: EPERM\n" +
		"plain.again      pass         -         -                    \n"
	if got := buf.String(); got != want {
		t.Errorf("Cases output:\n%s\nwant:\n%s", got, want)
	}
	for _, c := range sampleCases() {
		if !strings.Contains(buf.String(), c.ID+" ") {
			t.Errorf("output lacks case %s", c.ID)
		}
	}
	if strings.Contains(buf.String(), "hidden on pass") {
		t.Error("a passing case's reason was printed")
	}
}

func TestCasesClipsLongNotes(t *testing.T) {
	long := strings.Repeat("x", 150)
	var buf bytes.Buffer
	Cases(&buf, []result.Case{{
		ID: "a", Outcome: result.Fail, Reason: long,
		Observed: &result.Answer{Note: strings.Repeat("n", 80)},
	}})
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d lines: %q", len(lines), buf.String())
	}
	if want := strings.Repeat("x", 99) + "…"; !strings.HasSuffix(lines[1], "  "+want) {
		t.Errorf("note not clipped to 99 bytes + …: %q", lines[1])
	}
	if want := "  " + strings.Repeat("n", 59) + "…  "; !strings.Contains(lines[1], want) {
		t.Errorf("observed not clipped to 59 bytes + …: %q", lines[1])
	}
	if strings.Contains(lines[1], strings.Repeat("x", 100)) {
		t.Error("note printed beyond 100 characters")
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"", 5, ""},
		{"abcde", 5, "abcde"},
		{"abcdef", 5, "abcd…"},
	}
	for _, tt := range tests {
		if got := clip(tt.s, tt.n); got != tt.want {
			t.Errorf("clip(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func TestSummary(t *testing.T) {
	c := func(o result.Outcome) result.Case { return result.Case{ID: "x", Outcome: o} }
	tests := []struct {
		name  string
		cases []result.Case
		want  string
	}{
		{"none", nil, "0 cases: 0 pass, 0 fail\n"},
		{"all pass", []result.Case{c(result.Pass), c(result.Pass)}, "2 cases: 2 pass, 0 fail\n"},
		{"sample", sampleCases(), "6 cases: 2 pass, 1 fail, 1 error, 1 skip, 1 unsupported\n"},
		{"skips only", []result.Case{c(result.Skip), c(result.Unsupported), c(result.Unsupported)}, "3 cases: 0 pass, 0 fail, 1 skip, 2 unsupported\n"},
		{"errors", []result.Case{c(result.Error), c(result.Fail), c(result.Error)}, "3 cases: 0 pass, 1 fail, 2 error\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			Summary(&buf, tt.cases)
			if got := buf.String(); got != tt.want {
				t.Errorf("Summary = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMatrix(t *testing.T) {
	cases := []catalog.Info{
		{ID: "set_tid.plain.free", Group: "plain", Expect: "pid P", Rule: "a free PID is granted"},
		{ID: "set_tid.nested.userns", Group: "nested", Expect: "EPERM", Rule: "needs CAP_SYS_ADMIN in the owning userns",
			Setup: catalog.Setup{Levels: []catalog.Level{{UserNS: true}, {}}, UID: 1000}},
	}
	var buf bytes.Buffer
	Matrix(&buf, cases)
	want := "" +
		"CASE                   GROUP   SETUP                                        EXPECT  RULE\n" +
		"set_tid.plain.free     plain   uid 0                                        pid P   a free PID is granted\n" +
		"set_tid.nested.userns  nested  pidns depth 2 (userns at level 1), uid 1000  EPERM   needs CAP_SYS_ADMIN in the owning userns\n"
	if got := buf.String(); got != want {
		t.Errorf("Matrix output:\n%s\nwant:\n%s", got, want)
	}
}
