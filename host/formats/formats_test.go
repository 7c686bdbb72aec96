package formats

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/compare"
	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/ktap"
	"github.com/vmtest/vmtest/internal/result"
	"github.com/vmtest/vmtest/internal/testutils"
)

func loadRun(t *testing.T, name string) *run.Result {
	return testutils.ReadJSON[run.Result](t, filepath.Join("testdata", name))
}

func loadManifest(t *testing.T) *kbuild.Manifest {
	return testutils.ReadJSON[kbuild.Manifest](t, "testdata/manifest.json")
}

// junitDoc is what the tests read back from junit.xml.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Errors   int `xml:"errors,attr"`
	Suites   []struct {
		Name  string `xml:"name,attr"`
		Props []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name      string    `xml:"name,attr"`
			Classname string    `xml:"classname,attr"`
			Failure   *struct{} `xml:"failure"`
			Error     *struct{} `xml:"error"`
			Skipped   *struct{} `xml:"skipped"`
			SystemOut string    `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func readJUnit(t *testing.T, dir string) junitDoc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, JUnitFile))
	if err != nil {
		t.Fatal(err)
	}
	var d junitDoc
	if err := xml.Unmarshal(b, &d); err != nil {
		t.Fatalf("junit.xml: %v", err)
	}
	return d
}

func (d junitDoc) prop(name string) string {
	for _, s := range d.Suites {
		for _, p := range s.Props {
			if p.Name == name {
				return p.Value
			}
		}
	}
	return ""
}

type kcidbDoc struct {
	Version struct{ Major, Minor int }
	Builds  []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	Tests []struct {
		ID     string         `json:"id"`
		Path   string         `json:"path"`
		Status string         `json:"status"`
		Misc   map[string]any `json:"misc"`
	}
}

func readKCIDB(t *testing.T, dir string) kcidbDoc {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, KCIDBFile))
	if err != nil {
		t.Fatal(err)
	}
	var d kcidbDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("kcidb.json: %v", err)
	}
	return d
}

// stream writes a flat KTAP stream as the guest agent does.
func stream(t *testing.T, path string, cases []result.Case) []byte {
	t.Helper()
	var b bytes.Buffer
	w := ktap.NewWriter(&b, len(cases))
	for _, c := range cases {
		if err := w.Case(c); err != nil {
			t.Fatal(err)
		}
	}
	w.Done()
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWriteRun(t *testing.T) {
	tests := []struct {
		fixture string
		build   bool
	}{
		{"run-pass.json", false},
		{"run-warn.json", true},
		{"run-unsupported.json", false},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			res := loadRun(t, tc.fixture)
			dir := t.TempDir()
			flat := stream(t, filepath.Join(dir, StreamFile), res.Cases)
			o := Options{Origin: "ci_lab"}
			if tc.build {
				o.Build = loadManifest(t)
			}
			if err := WriteRun(dir, res, o); err != nil {
				t.Fatal(err)
			}
			// The guest's stream is kept beside the nested document, also
			// when the directory is written again.
			if err := WriteRun(dir, res, o); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(filepath.Join(dir, StreamFile)); !bytes.Equal(got, flat) {
				t.Errorf("%s is not the guest's stream", StreamFile)
			}
			nested, _ := os.ReadFile(filepath.Join(dir, KTAPFile))
			if !bytes.Contains(nested, []byte("    # Subtest: ")) || !bytes.Contains(nested, []byte(res.Kernel.SHA256)) {
				t.Errorf("%s is not the nested document:\n%s", KTAPFile, nested)
			}

			j := readJUnit(t, dir)
			fails, errs := 0, 0
			for _, c := range res.Cases {
				switch c.Outcome {
				case result.Fail:
					fails++
				case result.Error:
					errs++
				}
			}
			if j.Tests != len(res.Cases) || j.Failures != fails || j.Errors != errs {
				t.Errorf("junit totals %d/%d/%d, want %d cases, %d failures, %d errors", j.Tests, j.Failures, j.Errors, len(res.Cases), fails, errs)
			}
			if j.prop("kernel.sha256") != res.Kernel.SHA256 || j.prop("accel") != res.Accel || j.prop("kernel.release") != res.Kernel.Release {
				t.Errorf("junit properties lack the kernel's sha256, release or the accelerator")
			}
			if tc.build && !strings.Contains(j.prop("patch.1"), o.Build.Patches[0].SHA256) {
				t.Errorf("junit property patch.1 %q lacks the patch's hash", j.prop("patch.1"))
			}

			k := readKCIDB(t, dir)
			if k.Version.Major != 5 || len(k.Tests) != len(res.Cases)+1 || len(k.Builds) != 1 {
				t.Errorf("kcidb: version %d, %d tests, %d builds", k.Version.Major, len(k.Tests), len(k.Builds))
			}
			for _, kt := range k.Tests {
				if !strings.HasPrefix(kt.ID, "ci_lab:") {
					t.Errorf("kcidb test %s lacks the configured origin", kt.ID)
				}
			}
			if tc.build && k.Builds[0].Status != "PASS" {
				t.Errorf("a built kernel's build status is %q", k.Builds[0].Status)
			}

			page, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
			if !bytes.Contains(page, []byte("<title>vmtest "+res.Kernel.Release)) || !bytes.Contains(page, []byte(res.Cases[0].ID)) {
				t.Error("report.html does not show the run")
			}
			for _, f := range []string{JUnitFile, KCIDBFile, KTAPFile, HTMLFile} {
				if _, err := os.Stat(filepath.Join(dir, f+".tmp")); err == nil {
					t.Errorf("%s.tmp left behind", f)
				}
			}
		})
	}
}

// comparison is the fixture with one regression that a confirmation
// round contradicts: flaky.
func comparison(t *testing.T) *compare.Comparison {
	t.Helper()
	c, err := LoadComparison("testdata")
	if err != nil {
		t.Fatal(err)
	}
	c.Patched.Build = loadManifest(t)
	round := map[string]result.Outcome{}
	for _, pc := range c.Patched.Result.Cases {
		round[pc.ID] = pc.Outcome
	}
	round["set_tid/userns/unprivileged-newuser-newpid"] = result.Pass
	c.Cases = compare.Confirm(c.Cases, []compare.Rerun{{Patched: round}})
	c.Confirm = 2
	return c
}

func TestWriteComparison(t *testing.T) {
	c := comparison(t)
	dir := t.TempDir()
	if err := WriteComparison(dir, c, Options{}); err != nil {
		t.Fatal(err)
	}
	regressed := compare.Regressions(c.Cases)
	if len(regressed) != 10 {
		t.Fatalf("fixture: %d regressions, want 10 (11 less the flaky one)", len(regressed))
	}
	j := readJUnit(t, dir)
	if j.Tests != len(c.Cases) || j.Failures != len(regressed) {
		t.Errorf("junit: %d tests, %d failures; want %d and one failure per regression (%d)", j.Tests, j.Failures, len(c.Cases), len(regressed))
	}
	var flakyOut string
	for _, s := range j.Suites {
		for _, tc := range s.Cases {
			if tc.Name == "set_tid/userns/unprivileged-newuser-newpid" {
				flakyOut = tc.SystemOut
				if tc.Failure != nil || tc.Classname != "userns" {
					t.Errorf("the flaky case is %+v: want no failure, classname userns", tc)
				}
			}
		}
	}
	if !strings.Contains(flakyOut, "flaky") || !strings.Contains(flakyOut, "patched fail fail pass") {
		t.Errorf("flaky case's system-out %q does not say how it varied", flakyOut)
	}
	if j.prop("flaky") != "set_tid/userns/unprivileged-newuser-newpid" {
		t.Errorf("suite property flaky = %q", j.prop("flaky"))
	}
	if j.prop("base.kernel.sha256") != c.Base.Result.Kernel.SHA256 || j.prop("patched.kernel.sha256") != c.Patched.Result.Kernel.SHA256 || j.prop("confirm_rounds") != "2" {
		t.Error("junit properties lack both kernels' sha256 or the confirmation rounds")
	}

	k := readKCIDB(t, dir)
	if len(k.Builds) != 2 || len(k.Tests) != len(c.Base.Result.Cases)+len(c.Patched.Result.Cases)+2 {
		t.Errorf("kcidb: %d builds, %d tests; want both kernels' builds and tests", len(k.Builds), len(k.Tests))
	}
	sawFlaky := false
	for _, kt := range k.Tests {
		if kt.Misc["flaky"] != nil {
			sawFlaky = strings.Contains(kt.ID, ":patched:") && kt.Misc["case_id"] == "set_tid/userns/unprivileged-newuser-newpid"
		}
	}
	if !sawFlaky {
		t.Error("kcidb does not mark the patched kernel's flaky case")
	}
	page, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	for _, want := range []string{"regressed", "flaky", c.Patched.Build.Patches[0].Subject, "confirmed in 2 re-run round"} {
		if !bytes.Contains(page, []byte(template(want))) {
			t.Errorf("report.html lacks %q", want)
		}
	}
	if nested, _ := os.ReadFile(filepath.Join(dir, KTAPFile)); !bytes.Contains(nested, []byte("# Subtest: userns")) {
		t.Error("the comparison's results.ktap does not nest the patched cases")
	}
}

// template escapes s as html/template does for text: the page's text is
// compared in that form.
func template(s string) string {
	return strings.NewReplacer("'", "&#39;", "&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

func TestMergeRepeat(t *testing.T) {
	boot := func(outcomes map[string]result.Outcome, st run.Status) *run.Result {
		r := loadRun(t, "run-pass.json")
		r.Status = st
		for i := range r.Cases {
			if o, ok := outcomes[r.Cases[i].ID]; ok {
				r.Cases[i].Outcome, r.Cases[i].Reason = o, "from the boot where it was "+string(o)
			}
		}
		return r
	}
	first := loadRun(t, "run-pass.json").Cases
	a, b := first[0].ID, first[1].ID
	runs := []*run.Result{
		boot(nil, run.Completed),
		boot(map[string]result.Outcome{a: result.Fail}, run.Completed),
		boot(map[string]result.Outcome{b: result.Error}, run.Crashed), // not counted
		boot(map[string]result.Outcome{a: result.Error}, run.Completed),
	}
	cases, flakyIDs := run.Tally(runs)
	rr := &run.RepeatResult{Repeats: 4, Cases: cases, Flaky: flakyIDs, Status: run.Crashed}
	merged, flaky := MergeRepeat(rr, runs)
	if len(flaky) != 1 || flaky[a] != "pass fail error" {
		t.Errorf("flaky %v, want only %s as pass fail error", flaky, a)
	}
	got := map[string]result.Case{}
	for _, c := range merged.Cases {
		got[c.ID] = c
	}
	if c := got[a]; c.Outcome != result.Fail || !strings.Contains(c.Reason, "fail") {
		t.Errorf("merged %s is %s %q, want the first failing boot's case", a, c.Outcome, c.Reason)
	}
	if got[b].Outcome != result.Pass {
		t.Errorf("merged %s is %s: a crashed boot's outcome counted", b, got[b].Outcome)
	}
	if merged.Summary[result.Fail] != 1 || len(merged.Cases) != len(first) {
		t.Errorf("merged summary %v over %d cases", merged.Summary, len(merged.Cases))
	}
	if runs[0].Cases[0].Outcome != result.Pass {
		t.Error("MergeRepeat changed the first boot's result")
	}

	dir := t.TempDir()
	if err := WriteRepeat(dir, rr, runs, Options{}); err != nil {
		t.Fatal(err)
	}
	j := readJUnit(t, dir)
	if j.Failures != 1 || j.prop("flaky") != a {
		t.Errorf("repeat junit: %d failures, flaky property %q", j.Failures, j.prop("flaky"))
	}
}

func TestBadInput(t *testing.T) {
	if err := (Options{Origin: "Bad-Origin"}).Check(); err == nil || !strings.Contains(err.Error(), "lowercase") {
		t.Errorf("Check of a bad origin: %v", err)
	}
	if err := (Options{}).Check(); err != nil {
		t.Errorf("the default origin is refused: %v", err)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "comparison.json"), []byte(`{"base":{}}`), 0o644)
	if _, err := LoadComparison(dir); err == nil || !strings.Contains(err.Error(), "not a vmtest comparison") {
		t.Errorf("LoadComparison of a sideless file: %v", err)
	}
	if err := WriteRun(dir, nil, Options{}); err == nil {
		t.Error("WriteRun without a result succeeded")
	}
	if err := WriteRepeat(dir, &run.RepeatResult{}, nil, Options{}); err == nil {
		t.Error("WriteRepeat without boots succeeded")
	}
	if err := WriteRun(filepath.Join(dir, "missing"), loadRun(t, "run-pass.json"), Options{}); err == nil || !strings.Contains(err.Error(), "junit.xml") {
		t.Errorf("WriteRun into a missing directory: %v, want an error naming the file", err)
	}
}

// A crashed run's cases that never ran are errors whose text carries the
// console excerpt: the JUnit reader sees why without opening the run.
func TestCrashedRunJUnit(t *testing.T) {
	res := loadRun(t, "run-pass.json")
	res.Status, res.CrashTitle = run.Crashed, "BUG: kernel NULL pointer dereference"
	res.Crash = "[ 2.5] BUG: kernel NULL pointer dereference\n[ 2.5] RIP: copy_process+0x1/0x2"
	res.Cases[len(res.Cases)-1].Outcome, res.Cases[len(res.Cases)-1].Reason = result.Error, "not run: crashed"
	dir := t.TempDir()
	if err := WriteRun(dir, res, Options{}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, JUnitFile))
	var d struct {
		Cases []struct {
			Name  string `xml:"name,attr"`
			Error *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"error"`
		} `xml:"testsuite>testcase"`
	}
	if err := xml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	errs := 0
	for _, c := range d.Cases {
		if c.Error == nil {
			continue
		}
		errs++
		if c.Error.Message != "not run: crashed" || !strings.Contains(c.Error.Text, "RIP: copy_process") {
			t.Errorf("error of %s: %q / %q, want the reason and the console excerpt", c.Name, c.Error.Message, c.Error.Text)
		}
	}
	if errs != 1 {
		t.Errorf("%d error cases, want 1", errs)
	}
	if readJUnit(t, dir).prop("crash_title") != res.CrashTitle {
		t.Error("no crash_title property")
	}
}
