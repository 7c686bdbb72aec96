package ktap

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/internal/result"
)

var nestedCases = []result.Case{
	{ID: "clone3/probe/clone3", Group: "probe", Outcome: result.Pass},
	{ID: "set_tid/nested/a", Group: "nested", Outcome: result.Fail, Rule: "depth 1 takes [300]", Expected: &result.Answer{PID: 300}, Observed: &result.Answer{Errno: "EINVAL"}},
	{ID: "set_tid/nested/b", Group: "nested", Outcome: result.Error, Reason: "timeout: case did not finish within 1m0s"},
	{ID: "set_tid/nested/c", Group: "nested", Outcome: result.Error, Reason: "the kernel reported WARNING: at x while this case ran"},
	{ID: "clone3/probe/clear_sighand", Group: "probe", Outcome: result.Pass, Info: "3 races"},
	{ID: "set_tid/userns/x", Group: "userns", Outcome: result.Skip, Reason: "kernel lacks user namespaces"},
	{ID: "set_tid/userns/y", Group: "userns", Outcome: result.Unsupported, Reason: "kernel has no set_tid"},
	{ID: "odd#id", Outcome: result.Pass},
}

func TestWriteNestedStructure(t *testing.T) {
	var b bytes.Buffer
	if err := WriteNested(&b, nestedCases, Nested{Info: []KeyValue{{"kernel", "6.1.0"}, {"accel", "tcg"}}}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"KTAP version 1\n# kernel: 6.1.0\n# accel: tcg\n1..4\n",
		"    KTAP version 1\n    # Subtest: probe\n    1..2\n    ok 1 clone3/probe/clone3\n    # info: 3 races\n    ok 2 clone3/probe/clear_sighand\n",
		"ok 1 probe\n",
		"    # Subtest: nested\n    1..3\n",
		"    # rule: depth 1 takes [300]\n    # expected: pid 300\n    # observed: EINVAL\n    not ok 1 set_tid/nested/a\n",
		"    not ok 2 set_tid/nested/b # TIMEOUT timeout: case did not finish within 1m0s\n",
		"    not ok 3 set_tid/nested/c # ERROR the kernel reported WARNING",
		"# nested: pass:0 fail:1 skip:0 unsupported:0 error:2\nnot ok 2 nested\n",
		"    ok 1 set_tid/userns/x # SKIP kernel lacks user namespaces\n    ok 2 set_tid/userns/y # SKIP unsupported: kernel has no set_tid\n",
		"ok 3 userns # SKIP",
		"    # Subtest: ungrouped\n    1..1\n    ok 1 odd_id\n# ungrouped: pass:1 fail:0 skip:0 unsupported:0 error:0\nok 4 ungrouped\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("nested KTAP lacks\n%s\n--- in ---\n%s", want, out)
		}
	}
}

func TestTimedOut(t *testing.T) {
	tests := []struct {
		c    result.Case
		want bool
	}{
		{result.Case{Outcome: result.Error, Reason: "timeout: case did not finish within 1m0s"}, true},
		{result.Case{Outcome: result.Error, Reason: "timeout: case did not end within 2m0s; its worker was abandoned"}, true},
		{result.Case{Outcome: result.Error, Reason: "not run: case-timeout"}, false},
		{result.Case{Outcome: result.Fail, Reason: "timeout: odd"}, false},
	}
	for _, tc := range tests {
		if got := TimedOut(tc.c); got != tc.want {
			t.Errorf("TimedOut(%s %q) = %v, want %v", tc.c.Outcome, tc.c.Reason, got, tc.want)
		}
	}
}

// kunitTree finds the kernel tree's kunit.py parser: KUNIT_DIR, else the
// Debian linux-source tree vmtest unpacks into its cache.
func kunitTree(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("KUNIT_DIR"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	for _, pat := range []string{
		filepath.Join(home, ".cache/vmtest/src/*/*/tools/testing/kunit"),
		filepath.Join(home, ".cache/vmtest/build/tree-*/src/tools/testing/kunit"),
	} {
		m, _ := filepath.Glob(pat)
		for _, d := range m {
			if _, err := os.Stat(filepath.Join(d, "kunit_parser.py")); err == nil {
				return d
			}
		}
	}
	t.Skip("no kernel tree with tools/testing/kunit/kunit_parser.py (set KUNIT_DIR, or run `vmtest build` once to unpack Debian's linux-source): kunit.py cross-check skipped")
	return ""
}

// kunit.py's parser, the reader KTAP output is most often fed to, must
// read the document without an error and count what vmtest counted.
func TestNestedReadByKunitParser(t *testing.T) {
	dir := kunitTree(t)
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed: kunit.py cross-check skipped")
	}
	var b bytes.Buffer
	if err := WriteNested(&b, nestedCases, Nested{Info: []KeyValue{{"kernel", "6.1.0"}}}); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "results.ktap")
	if err := os.WriteFile(f, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	script := `
import json, sys
sys.path.insert(0, sys.argv[1])
import kunit_parser
with open(sys.argv[2]) as f:
    t = kunit_parser.parse_run_tests(f.readlines())
def names(t):
    return [s.name for s in t.subtests]
c = t.counts
print(json.dumps({"status": t.status.name, "passed": c.passed, "failed": c.failed, "crashed": c.crashed,
                  "skipped": c.skipped, "errors": c.errors, "groups": names(t),
                  "cases": [n for s in t.subtests for n in names(s)]}))
`
	cmd := exec.Command(python, "-c", script, dir, f)
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("kunit_parser: %v\n%s", err, raw)
	}
	var got struct {
		Status                                   string
		Passed, Failed, Crashed, Skipped, Errors int
		Groups, Cases                            []string
	}
	// kunit.py prints its own progress to the stdout it captured at
	// import; the summary is the last line.
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("kunit_parser output %q: %v", raw, err)
	}
	// 3 passes; fail and two errors are failures to kunit (TIMEOUT and
	// ERROR are not SKIP); skip and unsupported are skipped.
	if got.Errors != 0 || got.Crashed != 0 {
		t.Errorf("kunit_parser found %d parse errors and %d crashed tests in\n%s", got.Errors, got.Crashed, b.String())
	}
	if got.Passed != 3 || got.Failed != 3 || got.Skipped != 2 || got.Status != "FAILURE" {
		t.Errorf("kunit_parser counted %+v, want 3 passed, 3 failed, 2 skipped, status FAILURE", got)
	}
	if strings.Join(got.Groups, ",") != "probe,nested,userns,ungrouped" {
		t.Errorf("kunit_parser's subtests %v, want the groups", got.Groups)
	}
	if len(got.Cases) != len(nestedCases) || got.Cases[1] != "clone3/probe/clear_sighand" {
		t.Errorf("kunit_parser's cases %v", got.Cases)
	}
}
