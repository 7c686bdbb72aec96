package formats

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/run"
)

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		fixture string
		flaky   map[string]string
		want    []string
		notWant []string
	}{
		{"run-pass.json", nil, []string{"### vmtest passed on ", "22 cases: 22 pass"}, []string{"| case |"}},
		{"run-warn.json", nil, []string{"### vmtest failed on ", "| case | outcome |", "error", "Kernel report: `WARNING"}, nil},
		{"run-pass.json", map[string]string{"clone3/plain/into-cgroup": "pass fail pass"}, []string{"`clone3/plain/into-cgroup` | pass (flaky: pass fail pass)"}, nil},
	} {
		res := loadRun(t, tc.fixture)
		var b strings.Builder
		Summary(&b, res, tc.flaky)
		for _, w := range tc.want {
			if !strings.Contains(b.String(), w) {
				t.Errorf("%s: summary lacks %q:\n%s", tc.fixture, w, b.String())
			}
		}
		for _, w := range tc.notWant {
			if strings.Contains(b.String(), w) {
				t.Errorf("%s: summary has %q:\n%s", tc.fixture, w, b.String())
			}
		}
		// Every table row has the header's five cells: a '|' in a reason
		// must not add one.
		for _, l := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(l, "| `") && strings.Count(strings.ReplaceAll(l, `\|`, ""), "|") != 6 {
				t.Errorf("%s: row with a broken cell count: %s", tc.fixture, l)
			}
		}
	}
}

// TestReporterRun: the run.Reporter writes every format and summary.md
// into the directory it is given.
func TestReporterRun(t *testing.T) {
	dir := t.TempDir()
	res := loadRun(t, "run-warn.json")
	stream(t, filepath.Join(dir, StreamFile), res.Cases)
	var rep run.Reporter = Reporter{}
	if err := rep.Run(dir, res); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{JUnitFile, KCIDBFile, KTAPFile, HTMLFile, SummaryFile, StreamFile} {
		if fi, err := os.Stat(filepath.Join(dir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
}
