package ktap

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/internal/result"
)

func roundTripCases() []result.Case {
	return []result.Case{
		{
			ID:         "plain.pass",
			Outcome:    result.Pass,
			Expected:   &result.Answer{PID: 300, NSpid: []int{300}},
			Observed:   &result.Answer{PID: 300, NSpid: []int{300}},
			Info:       "race count 3\nsecond line",
			DurationMS: 1.5,
		},
		{
			ID:         "plain.fail",
			Outcome:    result.Fail,
			Expected:   &result.Answer{Errno: "EEXIST"},
			Observed:   &result.Answer{PID: 301, NSpid: []int{301, 7}, Note: "calls:\n1 ok\n2 ok"},
			Reason:     "expected EEXIST\ngot pid 301",
			DurationMS: 2,
		},
		{
			ID: "userns.skip", Outcome: result.Skip,
			Reason: "kernel lacks user namespaces\n(CONFIG_USER_NS=n)",
		},
		{
			ID: "args.unsupported", Outcome: result.Unsupported,
			Reason: "clone3: ENOSYS",
		},
		{
			ID: "nested.error", Outcome: result.Error,
			Expected: &result.Answer{Errno: "EINVAL", Note: "a\nb"},
			Reason:   "setup failed:\n  mount proc: EPERM",
		},
		{ID: "skip.noreason", Outcome: result.Skip},
		{ID: "unsupported.noreason", Outcome: result.Unsupported},
		{ID: "error.noreason", Outcome: result.Error},
		{ID: "quote\"and#hash", Outcome: result.Pass, Reason: "reason kept on pass"},
		{
			// A wildcard expectation differs from what was observed, so
			// both are sent; an exact one is sent once.
			ID: "wildcard.pass", Outcome: result.Pass,
			Expected: &result.Answer{NSpid: []int{1, 0}},
			Observed: &result.Answer{PID: 77, NSpid: []int{1, 77}},
		},
		{
			ID: "errno.pass", Outcome: result.Pass,
			Expected: &result.Answer{Errno: "EINVAL"}, Observed: &result.Answer{Errno: "EINVAL"},
		},
		{ID: "observed.only", Outcome: result.Error, Observed: &result.Answer{PID: 5}, Reason: "one line"},
	}
}

func TestRoundTrip(t *testing.T) {
	cases := roundTripCases()
	var buf bytes.Buffer
	w := NewWriter(&buf, len(cases))
	if err := w.Info("kernel", "6.1.0-57-amd64 #1 SMP\nsecond line"); err != nil {
		t.Fatal(err)
	}
	if err := w.Info("features", "a=b,c"); err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if err := w.Case(c); err != nil {
			t.Fatalf("Case(%s): %v", c.ID, err)
		}
	}
	if err := w.Done(); err != nil {
		t.Fatal(err)
	}

	p := NewParser()
	var kinds []EventKind
	var doneCount, plan int
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line == "" {
			continue
		}
		ev, err := p.Feed(line)
		if err != nil {
			t.Fatalf("Feed(%q): %v", line, err)
		}
		if ev == nil {
			continue
		}
		kinds = append(kinds, ev.Kind)
		switch ev.Kind {
		case KindDone:
			doneCount = ev.Count
		case KindPlan:
			plan = ev.Plan
		}
	}
	wantKinds := []EventKind{KindVersion, KindPlan, KindInfo, KindInfo}
	for range cases {
		wantKinds = append(wantKinds, KindCase)
	}
	wantKinds = append(wantKinds, KindDone)
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Errorf("events %v, want %v", kinds, wantKinds)
	}
	if plan != len(cases) || p.Plan != len(cases) {
		t.Errorf("plan event %d, parser plan %d, want %d", plan, p.Plan, len(cases))
	}
	if doneCount != len(cases) || !p.Done {
		t.Errorf("done count %d (Done=%v), want %d", doneCount, p.Done, len(cases))
	}
	wantInfo := map[string]string{"kernel": "6.1.0-57-amd64 #1 SMP | second line", "features": "a=b,c"}
	if !reflect.DeepEqual(p.Info, wantInfo) {
		t.Errorf("Info = %q, want %q", p.Info, wantInfo)
	}
	if !reflect.DeepEqual(p.Cases, cases) {
		t.Errorf("cases differ after the round trip:\n got %+v\nwant %+v", p.Cases, cases)
		for i := range min(len(cases), len(p.Cases)) {
			if !reflect.DeepEqual(p.Cases[i], cases[i]) {
				t.Errorf("case %d: got %+v, want %+v", i, p.Cases[i], cases[i])
			}
		}
	}
}

func TestWriterOutput(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, 4)
	w.Info("pid_max", "32768")
	w.Case(result.Case{ID: "a.one", Group: "a", Rule: "r", Outcome: result.Pass, DurationMS: 0.25,
		Expected: &result.Answer{Errno: "EEXIST"}, Observed: &result.Answer{Errno: "EEXIST"}})
	w.Case(result.Case{ID: "a.two", Outcome: result.Skip, Reason: "no\nuserns "})
	w.Case(result.Case{ID: "a.three", Outcome: result.Error, Reason: "timeout"})
	w.Case(result.Case{ID: "a.four", Outcome: result.Fail, Reason: "expected 1, got 2",
		Expected: &result.Answer{PID: 1}, Observed: &result.Answer{PID: 2, NSpid: []int{2}}})
	w.Done()
	want := "KTAP version 1\n" +
		"1..4\n" +
		"# vmtest-info pid_max=32768\n" +
		`# vmtest-case {"n":1,"same":true,"o":{"errno":"EEXIST"},"ms":0.25}` + "\n" +
		"ok 1 a.one\n" +
		`# vmtest-case {"n":2,"r":"no\nuserns ","ms":0}` + "\n" +
		"ok 2 a.two # SKIP no | userns\n" +
		`# vmtest-case {"n":3,"ms":0}` + "\n" +
		"not ok 3 a.three # ERROR timeout\n" +
		`# vmtest-case {"n":4,"e":{"pid":1},"o":{"pid":2,"nspid":[2]},"r":"expected 1, got 2","ms":0}` + "\n" +
		"not ok 4 a.four\n" +
		"# vmtest-done 4\n"
	if got := buf.String(); got != want {
		t.Errorf("stream =\n%s\nwant\n%s", got, want)
	}
}

func TestTestLine(t *testing.T) {
	tests := []struct {
		c    result.Case
		want string
	}{
		{result.Case{ID: "x", Outcome: result.Pass, Reason: "ignored"}, "ok 7 x"},
		{result.Case{ID: "x", Outcome: result.Fail, Reason: "ignored"}, "not ok 7 x"},
		{result.Case{ID: "x", Outcome: result.Skip, Reason: " why\nnot "}, "ok 7 x # SKIP why | not"},
		{result.Case{ID: "x", Outcome: result.Unsupported, Reason: "ENOSYS"}, "ok 7 x # SKIP unsupported: ENOSYS"},
		{result.Case{ID: "x", Outcome: result.Error, Reason: "boom"}, "not ok 7 x # ERROR boom"},
		{result.Case{ID: "x", Outcome: "bogus"}, "not ok 7 x"},
	}
	for _, tt := range tests {
		if got := TestLine(7, tt.c); got != tt.want {
			t.Errorf("TestLine(%s) = %q, want %q", tt.c.Outcome, got, tt.want)
		}
	}
}

type errWriter struct{ n int }

func (e *errWriter) Write(p []byte) (int, error) {
	if e.n <= 0 {
		return 0, errors.New("disk full")
	}
	e.n--
	return len(p), nil
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter(&errWriter{n: 0}, 1)
	if err := w.Info("k", "v"); err == nil || err.Error() != "disk full" {
		t.Errorf("Info = %v, want disk full", err)
	}
	if err := w.Case(result.Case{ID: "a", Outcome: result.Pass}); err == nil || err.Error() != "disk full" {
		t.Errorf("Case = %v, want disk full", err)
	}
	if err := w.Done(); err == nil || err.Error() != "disk full" {
		t.Errorf("Done = %v, want disk full", err)
	}

	// The first write (header) succeeds, the second fails; the error sticks.
	ew := &errWriter{n: 1}
	w = NewWriter(ew, 1)
	if err := w.Info("k", "v"); err == nil {
		t.Error("Info after a failed write succeeded")
	}
	if err := w.Done(); err == nil {
		t.Error("Done after a failed write succeeded")
	}

	var buf bytes.Buffer
	w = NewWriter(&buf, 1)
	err := w.Case(result.Case{ID: "nan", Outcome: result.Pass, DurationMS: math.NaN()})
	if err == nil || !strings.HasPrefix(err.Error(), "encode case nan: ") {
		t.Errorf("Case(NaN) = %v, want encode error", err)
	}
	if strings.Contains(buf.String(), "nan") {
		t.Errorf("an unencodable case was written: %q", buf.String())
	}
}

func feedAll(t *testing.T, p *Parser, lines ...string) []*Event {
	t.Helper()
	var evs []*Event
	for _, l := range lines {
		ev, err := p.Feed(l)
		if err != nil {
			t.Fatalf("Feed(%q): %v", l, err)
		}
		if ev != nil {
			evs = append(evs, ev)
		}
	}
	return evs
}

func TestParserStream(t *testing.T) {
	p := NewParser()
	if p.Plan != -1 || p.Done || len(p.Cases) != 0 || p.Info == nil {
		t.Fatalf("NewParser = %+v", p)
	}
	evs := feedAll(t, p,
		"[    0.000000] Linux version 6.1.0\r\n",
		"ok 99 before.start\n", // noise before the version line is ignored
		"1..50\n",
		"\rKTAP version 1\r\n",
		"1..4\r\n",
		"# vmtest-info kernel=6.1.0 #1 SMP\n",
		"# vmtest-info empty=\n",
		"# vmtest-info novalue\n",
		"# vmtest-info eq=a=b\n",
		"random garbage from the kernel\n",
		"# some other diagnostic\n",
		"    ok 1 nested.subtest\n",
		"",
		"ok 1 plain.a\n",
		"not ok 2 plain.b\n",
		"ok 3 plain.c # SKIP no userns\n",
		"ok 4 plain.d # skip unsupported: no clone3\n",
		"not ok 5 plain.e # ERROR setup failed\n",
		"not ok 6 plain.f # TIMEOUT after 30s\n",
		"not ok 7 plain.g # whatever\n",
		"# vmtest-done 7\n",
	)
	if p.Plan != 4 {
		t.Errorf("Plan = %d, want 4", p.Plan)
	}
	if !p.Done {
		t.Error("Done not set")
	}
	wantInfo := map[string]string{"kernel": "6.1.0 #1 SMP", "empty": "", "novalue": "", "eq": "a=b"}
	if !reflect.DeepEqual(p.Info, wantInfo) {
		t.Errorf("Info = %q, want %q", p.Info, wantInfo)
	}
	wantCases := []result.Case{
		{ID: "plain.a", Outcome: result.Pass},
		{ID: "plain.b", Outcome: result.Fail},
		{ID: "plain.c", Outcome: result.Skip, Reason: "no userns"},
		{ID: "plain.d", Outcome: result.Unsupported, Reason: "no clone3"},
		{ID: "plain.e", Outcome: result.Error, Reason: "setup failed"},
		{ID: "plain.f", Outcome: result.Error, Reason: "after 30s"},
		{ID: "plain.g", Outcome: result.Fail, Reason: ""},
	}
	if !reflect.DeepEqual(p.Cases, wantCases) {
		t.Errorf("Cases =\n%+v\nwant\n%+v", p.Cases, wantCases)
	}
	var kinds []EventKind
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	wantKinds := []EventKind{KindVersion, KindPlan, KindInfo, KindInfo, KindInfo, KindInfo,
		KindCase, KindCase, KindCase, KindCase, KindCase, KindCase, KindCase, KindDone}
	if !reflect.DeepEqual(kinds, wantKinds) {
		t.Errorf("event kinds %v, want %v", kinds, wantKinds)
	}
	if last := evs[len(evs)-1]; last.Count != 7 {
		t.Errorf("done Count = %d, want 7", last.Count)
	}
	if ev := evs[2]; ev.Key != "kernel" || ev.Value != "6.1.0 #1 SMP" {
		t.Errorf("info event = %+v", ev)
	}
	if ev := evs[6]; ev.Case.ID != "plain.a" || ev.Case.Outcome != result.Pass {
		t.Errorf("first case event = %+v", ev)
	}
}

func TestParserCaseRecord(t *testing.T) {
	tests := []struct {
		name  string
		lines []string
		want  result.Case
	}{
		{
			name: "record for the same case",
			lines: []string{
				`# vmtest-case {"n":1,"r":"r","i":"info","ms":3}`,
				"ok 1 a",
			},
			want: result.Case{ID: "a", Outcome: result.Pass, Reason: "r", Info: "info", DurationMS: 3},
		},
		{
			name: "same: the expectation is the observation",
			lines: []string{
				`# vmtest-case {"n":1,"same":true,"o":{"pid":9,"nspid":[9,1]},"ms":1}`,
				"ok 1 a",
			},
			want: result.Case{ID: "a", Outcome: result.Pass, DurationMS: 1,
				Expected: &result.Answer{PID: 9, NSpid: []int{9, 1}}, Observed: &result.Answer{PID: 9, NSpid: []int{9, 1}}},
		},
		{
			name: "the test line decides the outcome",
			lines: []string{
				`# vmtest-case {"n":1,"ms":0}`,
				"not ok 1 a",
			},
			want: result.Case{ID: "a", Outcome: result.Fail},
		},
		{
			name: "record for another test number is ignored",
			lines: []string{
				`# vmtest-case {"n":2,"r":"other","ms":5}`,
				"ok 1 a # SKIP why",
			},
			want: result.Case{ID: "a", Outcome: result.Skip, Reason: "why"},
		},
		{
			name: "record's reason wins over the directive's",
			lines: []string{
				`# vmtest-case {"n":1,"r":"line1\nline2","ms":0}`,
				"not ok 1 a # ERROR line1 | line2",
			},
			want: result.Case{ID: "a", Outcome: result.Error, Reason: "line1\nline2"},
		},
		{
			name: "a record is used once",
			lines: []string{
				`# vmtest-case {"n":1,"i":"x","ms":0}`,
				"ok 1 a",
				"ok 1 a",
			},
			want: result.Case{ID: "a", Outcome: result.Pass},
		},
		{
			name: "latest record wins",
			lines: []string{
				`# vmtest-case {"n":1,"i":"old","ms":0}`,
				`# vmtest-case {"n":1,"i":"new","ms":0}`,
				"ok 1 a",
			},
			want: result.Case{ID: "a", Info: "new", Outcome: result.Pass},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewParser()
			feedAll(t, p, append([]string{"KTAP version 1", "1..1"}, tt.lines...)...)
			if len(p.Cases) == 0 {
				t.Fatal("no cases")
			}
			if got := p.Cases[len(p.Cases)-1]; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("case = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParserMalformed(t *testing.T) {
	tests := []struct {
		line string
		want string
	}{
		{"1..x", `bad plan line "1..x"`},
		{"1..", `bad plan line "1.."`},
		{"# vmtest-case {not json", `bad case record "# vmtest-case {not json": `},
		{"# vmtest-done many", `bad done record "# vmtest-done many"`},
		{"# vmtest-done ", `bad done record "# vmtest-done "`},
		{"ok x a", `bad test number in "ok x a"`},
		{"not ok  a", `bad test number in "not ok  a"`},
		{"ok ", `bad test number in "ok "`},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			p := NewParser()
			feedAll(t, p, "KTAP version 1", "1..2")
			ev, err := p.Feed(tt.line + "\r\n")
			if err == nil {
				t.Fatalf("Feed(%q) = %+v, nil; want error", tt.line, ev)
			}
			if ev != nil {
				t.Errorf("Feed(%q) returned event %+v with the error", tt.line, ev)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error %q, want prefix %q", err, tt.want)
			}
			if p.Plan != 2 || p.Done || len(p.Cases) != 0 {
				t.Errorf("malformed line changed state: plan %d done %v cases %v", p.Plan, p.Done, p.Cases)
			}
			// Still usable.
			feedAll(t, p, "ok 1 after", "# vmtest-done 1")
			if len(p.Cases) != 1 || p.Cases[0].ID != "after" || !p.Done {
				t.Errorf("parser not usable after error: %+v", p)
			}
		})
	}
}

func TestParserPartialStream(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, 3)
	w.Case(result.Case{ID: "a", Outcome: result.Pass})
	w.Case(result.Case{ID: "b", Outcome: result.Fail, Reason: "x"})
	w.Done()
	full := buf.String()
	// Cut inside the second case's test line, as a dying guest would.
	cut := strings.Index(full, "not ok 2 b") + len("not ok")
	p := NewParser()
	for _, line := range strings.SplitAfter(full[:cut], "\n") {
		if _, err := p.Feed(line); err != nil {
			t.Fatalf("Feed(%q): %v", line, err)
		}
	}
	if p.Done {
		t.Error("Done set for a truncated stream")
	}
	if p.Plan != 3 {
		t.Errorf("Plan = %d, want 3", p.Plan)
	}
	if len(p.Cases) != 1 || p.Cases[0].ID != "a" || p.Cases[0].Outcome != result.Pass {
		t.Errorf("Cases = %+v, want only a (pass)", p.Cases)
	}

	// Nothing but noise: not even started.
	p = NewParser()
	feedAll(t, p, "SeaBIOS", "Booting from ROM..", "1..3", "ok 1 a")
	if p.Plan != -1 || len(p.Cases) != 0 || p.Done || len(p.Info) != 0 {
		t.Errorf("parser picked up noise before the version line: %+v", p)
	}
}

func TestParserEmptyRun(t *testing.T) {
	// What the agent writes when it cannot select any case.
	var buf bytes.Buffer
	w := NewWriter(&buf, 0)
	w.Info("error", "no case matches \"x*\"\n")
	w.Done()
	p := NewParser()
	evs := feedAll(t, p, strings.Split(buf.String(), "\n")...)
	if !p.Done || p.Plan != 0 || len(p.Cases) != 0 {
		t.Errorf("parser = %+v, want done, plan 0, no cases", p)
	}
	if got := p.Info["error"]; got != `no case matches "x*"` {
		t.Errorf("error info = %q", got)
	}
	if n := len(evs); n != 4 || evs[3].Kind != KindDone || evs[3].Count != 0 {
		t.Errorf("events = %+v, want version, plan, info, done 0", evs)
	}
}

// TestAppendRecordMatchesJSON: the hand-written record encoder writes
// what encoding/json writes for the same record (byte for byte where no
// HTML character is involved), and it decodes to the record.
func TestAppendRecordMatchesJSON(t *testing.T) {
	tests := []record{
		{N: 1},
		{N: 2, Same: true, Observed: &result.Answer{Errno: "EINVAL"}, DurationMS: 0.419},
		{N: 3, Expected: &result.Answer{NSpid: []int{1, 0}}, Observed: &result.Answer{PID: 4094, NSpid: []int{1, 4094}}, DurationMS: 12},
		{N: 4, Expected: &result.Answer{}, Observed: &result.Answer{Note: "n"}, DurationMS: 1e-7},
		{N: 5, Reason: "quote \" backslash \\ newline \n tab \t bell \a arrow → end", Info: "a\r\nb\x00\x1f", DurationMS: 123456.789},
		{N: 6, Observed: &result.Answer{Errno: "errno 4095", PID: -1, NSpid: []int{-5}}, DurationMS: 3.5e21},
		{N: 7, Reason: "a <b> & c", DurationMS: 0.001},
	}
	for _, r := range tests {
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendRecord(nil, r)
		if err != nil {
			t.Fatalf("record %d: %v", r.N, err)
		}
		if !strings.ContainsAny(r.Reason, "<>&") && string(got) != string(want) {
			t.Errorf("record %d:\n got %s\nwant %s", r.N, got, want)
		}
		var back record
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("record %d: %s does not decode: %v", r.N, got, err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Errorf("record %d decodes to %+v, want %+v", r.N, back, r)
		}
	}
	if _, err := appendRecord(nil, record{DurationMS: math.NaN()}); err == nil {
		t.Error("a NaN duration was encoded")
	}
}
