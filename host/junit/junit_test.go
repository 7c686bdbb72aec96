package junit

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/internal/result"
)

// parsed is an independent reading of the document: the element and
// attribute names a JUnit reader looks for, not this package's types.
type parsed struct {
	XMLName xml.Name `xml:"testsuites"`
	Tests   string   `xml:"tests,attr"`
	Fails   string   `xml:"failures,attr"`
	Errors  string   `xml:"errors,attr"`
	Suites  []struct {
		Name     string `xml:"name,attr"`
		Tests    string `xml:"tests,attr"`
		Failures string `xml:"failures,attr"`
		Errors   string `xml:"errors,attr"`
		Skipped  string `xml:"skipped,attr"`
		Props    []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name      string `xml:"name,attr"`
			Classname string `xml:"classname,attr"`
			Time      string `xml:"time,attr"`
			Failure   *elem  `xml:"failure"`
			Error     *elem  `xml:"error"`
			Skipped   *elem  `xml:"skipped"`
			SystemOut string `xml:"system-out"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

type elem struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func render(t *testing.T, doc Suites) ([]byte, parsed) {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, doc); err != nil {
		t.Fatal(err)
	}
	var p parsed
	if err := xml.Unmarshal(b.Bytes(), &p); err != nil {
		t.Fatalf("junit.xml does not parse: %v\n%s", err, b.String())
	}
	return b.Bytes(), p
}

// validate checks the document against the Jenkins schema with xmllint,
// when the host has it (Debian: libxml2-utils).
func validate(t *testing.T, doc []byte) {
	t.Helper()
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Log("xmllint not installed (apt-get install libxml2-utils): schema validation skipped; structure checked by parsing only")
		return
	}
	f := filepath.Join(t.TempDir(), "junit.xml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xmllint, "--noout", "--schema", "testdata/jenkins-junit.xsd", f).CombinedOutput()
	if err != nil {
		t.Fatalf("junit.xml does not validate against the Jenkins schema: %v\n%s", err, out)
	}
}

func TestOutcomeElements(t *testing.T) {
	eperm := &result.Answer{Errno: "EPERM"}
	ok := &result.Answer{PID: 300, NSpid: []int{300, 1}}
	tests := []struct {
		name      string
		test      Test
		element   string // failure, error, skipped or "" for a pass
		inMessage []string
		inText    []string
	}{
		{"pass", Test{Case: result.Case{ID: "a/pass", Group: "g", Outcome: result.Pass, Expected: eperm, Observed: eperm}}, "", nil, nil},
		{"fail names both answers", Test{Case: result.Case{ID: "a/fail", Group: "g", Rule: "must refuse", Outcome: result.Fail, Expected: eperm, Observed: ok}},
			"failure", []string{"expected EPERM", "observed pid 300 nspid [300 1]"}, []string{"rule: must refuse", "expected: EPERM", "observed: pid 300"}},
		{"error carries the reason", Test{Case: result.Case{ID: "a/err", Group: "g", Outcome: result.Error, Reason: "timeout: case did not finish within 1m0s"}},
			"error", []string{"timeout: case did not finish"}, []string{"reason: timeout"}},
		{"skip carries the reason", Test{Case: result.Case{ID: "a/skip", Group: "g", Outcome: result.Skip, Reason: "kernel lacks cgroup2"}},
			"skipped", []string{"skip: kernel lacks cgroup2"}, nil},
		{"unsupported is skipped", Test{Case: result.Case{ID: "a/uns", Group: "g", Outcome: result.Unsupported, Reason: "kernel has no clone3 set_tid"}},
			"skipped", []string{"unsupported: kernel has no clone3 set_tid"}, nil},
		{"override outcome and message", Test{Case: result.Case{ID: "a/reg", Group: "g", Outcome: result.Skip}, Outcome: result.Fail, Message: "regressed: base pass, patched skip"},
			"failure", []string{"regressed: base pass, patched skip"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw, p := render(t, Build("x", []Test{tc.test}, nil, time.Time{}))
			validate(t, raw)
			if len(p.Suites) != 1 || len(p.Suites[0].Cases) != 1 {
				t.Fatalf("want one suite with one case, got %+v", p)
			}
			c := p.Suites[0].Cases[0]
			got := map[string]*elem{"failure": c.Failure, "error": c.Error, "skipped": c.Skipped}
			for name, e := range got {
				if (e != nil) != (name == tc.element) {
					t.Errorf("element %s present=%v, want only %q", name, e != nil, tc.element)
				}
			}
			if tc.element == "" {
				return
			}
			e := got[tc.element]
			for _, s := range tc.inMessage {
				if !strings.Contains(e.Message, s) {
					t.Errorf("message %q lacks %q", e.Message, s)
				}
			}
			for _, s := range tc.inText {
				if !strings.Contains(e.Text, s) {
					t.Errorf("text %q lacks %q", e.Text, s)
				}
			}
		})
	}
}

func TestSuitesPerGroup(t *testing.T) {
	cases := []Test{
		{Case: result.Case{ID: "set_tid/nested/a", Group: "nested", Outcome: result.Pass, DurationMS: 1500}},
		{Case: result.Case{ID: "clone3/plain/b", Group: "plain", Outcome: result.Fail}},
		{Case: result.Case{ID: "set_tid/nested/c", Group: "nested", Outcome: result.Skip, DurationMS: 250}},
		{Case: result.Case{ID: "set_tid/nested/d", Group: "nested", Outcome: result.Pass}, Flaky: "pass fail pass"},
		{Case: result.Case{ID: "loose", Outcome: result.Error}},
	}
	props := []Property{{"kernel.sha256", "abc"}, {"accel", "tcg"}}
	started := time.Date(2026, 12, 1, 13, 15, 9, 0, time.UTC)
	raw, p := render(t, Build("vmtest 6.1", cases, props, started))
	validate(t, raw)
	if p.Tests != "5" || p.Fails != "1" || p.Errors != "1" {
		t.Errorf("totals tests=%s failures=%s errors=%s, want 5 1 1", p.Tests, p.Fails, p.Errors)
	}
	var names []string
	for _, s := range p.Suites {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "nested,plain,ungrouped" {
		t.Fatalf("suites %s, want nested,plain,ungrouped (first-seen order)", got)
	}
	nested := p.Suites[0]
	if nested.Tests != "3" || nested.Skipped != "1" || nested.Failures != "0" {
		t.Errorf("nested suite counts tests=%s skipped=%s failures=%s", nested.Tests, nested.Skipped, nested.Failures)
	}
	for _, c := range nested.Cases {
		if c.Classname != "nested" || !strings.HasPrefix(c.Name, "set_tid/nested/") {
			t.Errorf("case %s has classname %q, want the group", c.Name, c.Classname)
		}
	}
	if nested.Cases[0].Time != "1.5" {
		t.Errorf("time %q, want seconds 1.5", nested.Cases[0].Time)
	}
	props2 := map[string]string{}
	for _, pr := range nested.Props {
		props2[pr.Name] = pr.Value
	}
	if props2["kernel.sha256"] != "abc" || props2["accel"] != "tcg" || props2["flaky"] != "set_tid/nested/d" {
		t.Errorf("nested properties %v: want kernel.sha256, accel and flaky=set_tid/nested/d", props2)
	}
	for _, pr := range p.Suites[1].Props {
		if pr.Name == "flaky" {
			t.Errorf("suite plain has a flaky property %q but none of its cases is flaky", pr.Value)
		}
	}
	if out := nested.Cases[2].SystemOut; !strings.Contains(out, "flaky") || !strings.Contains(out, "pass fail pass") {
		t.Errorf("flaky case's system-out %q does not say it is flaky and how", out)
	}
	if !bytes.Contains(raw, []byte(`timestamp="2026-12-01T13:15:09"`)) {
		t.Errorf("no suite timestamp in\n%s", raw)
	}
}

// Text from a console (control characters, a CDATA terminator, markup)
// must not break the document.
func TestHostileText(t *testing.T) {
	reason := "oops\x1b[0m <b>&amp;</b> ]]> end\x00"
	raw, p := render(t, Build("x", []Test{{Case: result.Case{ID: "a<b>", Group: "g&h", Outcome: result.Error, Reason: reason}}}, []Property{{"k", "v\x07"}}, time.Time{}))
	validate(t, raw)
	c := p.Suites[0].Cases[0]
	if c.Name != "a<b>" || p.Suites[0].Name != "g&h" {
		t.Errorf("names %q %q did not survive", c.Name, p.Suites[0].Name)
	}
	if c.Error == nil || !strings.Contains(c.Error.Text, "<b>&amp;</b> ]]> end") {
		t.Errorf("error text %+v lost the reason's markup or CDATA terminator", c.Error)
	}
}
