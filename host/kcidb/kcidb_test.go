package kcidb

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/result"
	"github.com/vmtest/vmtest/internal/testutils"
)

// The rules of KCIDB I/O schema v5.3 that vmtest's documents touch,
// written down from kcidb-io's schema: for each object, the properties it
// may have (additionalProperties is false everywhere), the required ones,
// and the patterns of the constrained strings. No property may be null.
var (
	originPat   = regexp.MustCompile(`^[a-z0-9_]+$`)
	idPat       = regexp.MustCompile(`^[a-z0-9_]+:.*$`)
	pathPat     = regexp.MustCompile(`^([a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*)?$`)
	sha256OrNil = regexp.MustCompile(`^$|^[0-9a-f]{64}$`)
	archPat     = regexp.MustCompile(`^[a-z0-9_]*$`)
	statuses    = map[string]bool{"FAIL": true, "ERROR": true, "MISS": true, "PASS": true, "DONE": true, "SKIP": true}
)

type objectRule struct {
	allowed  []string
	required []string
	patterns map[string]*regexp.Regexp
}

var rules = map[string]objectRule{
	"checkout": {
		allowed: []string{"_timestamp", "id", "origin", "tree_name", "git_repository_url", "git_commit_hash", "git_commit_name",
			"git_commit_tags", "git_commit_message", "git_repository_branch", "git_repository_branch_tip", "patchset_files",
			"patchset_hash", "message_id", "comment", "start_time", "origin_builds_finish_time", "origin_tests_finish_time",
			"log_url", "log_excerpt", "valid", "misc"},
		required: []string{"id", "origin"},
		patterns: map[string]*regexp.Regexp{"id": idPat, "origin": originPat, "patchset_hash": sha256OrNil},
	},
	"build": {
		allowed: []string{"_timestamp", "checkout_id", "id", "origin", "comment", "start_time", "duration", "architecture",
			"command", "compiler", "input_files", "output_files", "config_name", "config_url", "log_url", "log_excerpt", "status", "misc"},
		required: []string{"checkout_id", "id", "origin"},
		patterns: map[string]*regexp.Regexp{"id": idPat, "checkout_id": idPat, "origin": originPat, "architecture": archPat},
	},
	"test": {
		allowed: []string{"_timestamp", "build_id", "id", "origin", "environment", "path", "comment", "log_url", "log_excerpt",
			"status", "number", "start_time", "duration", "input_files", "output_files", "misc"},
		required: []string{"build_id", "id", "origin"},
		patterns: map[string]*regexp.Regexp{"id": idPat, "build_id": idPat, "origin": originPat, "path": pathPat},
	},
	"environment": {allowed: []string{"compatible", "comment", "misc"}},
}

// validate checks a document against the rules and returns every problem.
func validate(doc []byte) []string {
	var problems []string
	add := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	var top map[string]any
	if err := json.Unmarshal(doc, &top); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var noNull func(path string, v any)
	noNull = func(path string, v any) {
		switch x := v.(type) {
		case nil:
			add("%s is null", path)
		case map[string]any:
			for k, e := range x {
				noNull(path+"."+k, e)
			}
		case []any:
			for i, e := range x {
				noNull(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	noNull("$", top)
	for k := range top {
		if !contains([]string{"version", "checkouts", "builds", "tests", "issues", "incidents"}, k) {
			add("top-level property %q is not in the schema", k)
		}
	}
	v, _ := top["version"].(map[string]any)
	if v == nil {
		add("no version")
	} else {
		if v["major"] != float64(5) {
			add("version.major %v, want 5", v["major"])
		}
		if m, ok := v["minor"].(float64); !ok || m < 0 || m > 3 || m != float64(int(m)) {
			add("version.minor %v, want an integer 0..3", v["minor"])
		}
	}
	check := func(kind, where string, obj map[string]any) {
		r := rules[kind]
		for k := range obj {
			if !contains(r.allowed, k) {
				add("%s: property %q is not in the schema", where, k)
			}
		}
		for _, k := range r.required {
			if _, ok := obj[k]; !ok {
				add("%s: required %q missing", where, k)
			}
		}
		for k, pat := range r.patterns {
			if s, ok := obj[k]; ok {
				str, isStr := s.(string)
				if !isStr || !pat.MatchString(str) {
					add("%s: %s %q does not match %s", where, k, s, pat)
				}
			}
		}
		for _, k := range []string{"start_time", "_timestamp"} {
			if s, ok := obj[k].(string); ok {
				if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
					add("%s: %s %q is not a date-time", where, k, s)
				}
			}
		}
		if s, ok := obj["status"]; ok && !statuses[fmt.Sprint(s)] {
			add("%s: status %v is not a KCIDB status", where, s)
		}
		if s, ok := obj["log_excerpt"].(string); ok && len([]rune(s)) > LogExcerptMax {
			add("%s: log_excerpt has %d characters, over %d", where, len([]rune(s)), LogExcerptMax)
		}
		if m, ok := obj["misc"]; ok {
			if _, isObj := m.(map[string]any); !isObj {
				add("%s: misc is not an object", where)
			}
		}
		if e, ok := obj["environment"]; ok {
			env, isObj := e.(map[string]any)
			if !isObj {
				add("%s: environment is not an object", where)
			} else {
				for k := range env {
					if !contains(rules["environment"].allowed, k) {
						add("%s.environment: property %q is not in the schema", where, k)
					}
				}
			}
		}
	}
	for _, list := range []struct{ key, kind string }{{"checkouts", "checkout"}, {"builds", "build"}, {"tests", "test"}} {
		items, ok := top[list.key].([]any)
		if !ok && top[list.key] != nil {
			add("%s is not an array", list.key)
		}
		for i, it := range items {
			obj, ok := it.(map[string]any)
			if !ok {
				add("%s[%d] is not an object", list.key, i)
				continue
			}
			check(list.kind, fmt.Sprintf("%s[%d]", list.key, i), obj)
		}
	}
	return problems
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// The fixtures are host/formats', from real runs.
func loadResult(t *testing.T, name string) *run.Result {
	return testutils.ReadJSON[run.Result](t, "../formats/testdata/"+name)
}

func loadManifest(t *testing.T) *kbuild.Manifest {
	return testutils.ReadJSON[kbuild.Manifest](t, "../formats/testdata/manifest.json")
}

// The validator must itself catch what it is there for, or the document
// tests below prove nothing.
func TestValidatorCatches(t *testing.T) {
	tests := []struct{ doc, want string }{
		{`{"version":{"major":4}}`, "version.major"},
		{`{"version":{"major":5,"minor":9}}`, "version.minor"},
		{`{"version":{"major":5},"tests":[{"id":"x:1","origin":"x"}]}`, `required "build_id"`},
		{`{"version":{"major":5},"tests":[{"id":"1","build_id":"x:1","origin":"x"}]}`, "id \"1\" does not match"},
		{`{"version":{"major":5},"tests":[{"id":"x:1","build_id":"x:1","origin":"x","path":"a/b"}]}`, "path"},
		{`{"version":{"major":5},"tests":[{"id":"x:1","build_id":"x:1","origin":"x","status":"OK"}]}`, "not a KCIDB status"},
		{`{"version":{"major":5},"tests":[{"id":"x:1","build_id":"x:1","origin":"x","outcome":"pass"}]}`, `"outcome" is not in the schema`},
		{`{"version":{"major":5},"builds":[{"id":"x:1","checkout_id":"x:1","origin":"X"}]}`, "origin"},
		{`{"version":{"major":5},"checkouts":[{"id":"x:1","origin":"x","comment":null}]}`, "null"},
		{`{"version":{"major":5},"checkouts":[{"id":"x:1","origin":"x","patchset_hash":"abc"}]}`, "patchset_hash"},
	}
	for _, tc := range tests {
		p := strings.Join(validate([]byte(tc.doc)), "\n")
		if !strings.Contains(p, tc.want) {
			t.Errorf("validate(%s) = %q, want a problem with %q", tc.doc, p, tc.want)
		}
	}
}

func TestDocumentsValidate(t *testing.T) {
	crashed := loadResult(t, "run-warn.json")
	crashed.Status, crashed.Crash = run.Crashed, strings.Repeat("[ 1.0] BUG: a line of a long report\n", 1000)
	crashed.Cases = append(crashed.Cases, result.Case{ID: "set_tid/x/never", Group: "x", Outcome: result.Error, Reason: "not run: crashed"})
	tests := []struct {
		name string
		runs []Run
	}{
		{"prebuilt pass", []Run{{Result: loadResult(t, "run-pass.json")}}},
		{"built with patches", []Run{{Result: loadResult(t, "run-warn.json"), Build: loadManifest(t)}}},
		{"unsupported", []Run{{Result: loadResult(t, "run-unsupported.json")}}},
		{"crashed", []Run{{Result: crashed}}},
		{"comparison", []Run{{Label: "base", Result: loadResult(t, "run-pass.json")}, {Label: "patched", Result: loadResult(t, "run-warn.json"), Build: loadManifest(t), Flaky: map[string]string{"set_tid/nested/inner-pid-max": "error pass"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Encode(tc.runs, Options{Origin: "my_ci"})
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if p := validate(b); len(p) > 0 {
				t.Fatalf("kcidb.json breaks the schema:\n%s", strings.Join(p, "\n"))
			}
			ids := map[string]bool{}
			cases := 0
			for _, r := range tc.runs {
				cases += len(r.Result.Cases) + 1 // + the boot test
			}
			if len(d.Tests) != cases {
				t.Errorf("%d tests, want one per case plus a boot test per run (%d)", len(d.Tests), cases)
			}
			builds := map[string]bool{}
			for _, b := range d.Builds {
				builds[b.ID] = true
			}
			for _, tt := range d.Tests {
				if ids[tt.ID] {
					t.Errorf("test id %s is not unique", tt.ID)
				}
				ids[tt.ID] = true
				if !strings.HasPrefix(tt.ID, "my_ci:") || tt.Origin != "my_ci" {
					t.Errorf("test %s does not carry the origin my_ci", tt.ID)
				}
				if !builds[tt.BuildID] {
					t.Errorf("test %s names build %s, which the document lacks", tt.ID, tt.BuildID)
				}
				if strings.Contains(tt.Path, "/") || !strings.HasPrefix(tt.Path, "vmtest.") {
					t.Errorf("test path %q is not dotted under vmtest", tt.Path)
				}
			}
		})
	}
}

func TestBuildManifest(t *testing.T) {
	m := loadManifest(t)
	d, err := Encode([]Run{{Result: loadResult(t, "run-warn.json"), Build: m}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	co, b := d.Checkouts[0], d.Builds[0]
	// The schema's own recipe: sha256sum *.patch | cut -c-64 | sha256sum.
	want := PatchsetHash([]kbuild.PatchInfo{{FileHash: kbuild.FileHash{SHA256: m.Patches[0].SHA256}}})
	if co.PatchsetHash == nil || *co.PatchsetHash != want || len(want) != 64 {
		t.Errorf("patchset_hash %v, want %s", co.PatchsetHash, want)
	}
	if PatchsetHash(nil) != "" {
		t.Error("no patches must hash to the empty string")
	}
	patches, _ := co.Misc["patches"].([]map[string]any)
	if len(patches) != 1 || patches[0]["sha256"] != m.Patches[0].SHA256 || patches[0]["subject"] != m.Patches[0].Subject {
		t.Errorf("checkout misc patches %v do not list the manifest's patch and hash", co.Misc["patches"])
	}
	if b.CheckoutID != co.ID || b.Compiler != m.Toolchain || b.Duration == nil || *b.Duration != m.BuildSeconds || b.Status != StatusPass {
		t.Errorf("build %+v does not carry the manifest", b)
	}
	if !strings.HasPrefix(d.Tests[0].ID, DefaultOrigin+":") {
		t.Errorf("default origin not used: %s", d.Tests[0].ID)
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		c    result.Case
		want string
	}{
		{result.Case{Outcome: result.Pass}, StatusPass},
		{result.Case{Outcome: result.Fail}, StatusFail},
		{result.Case{Outcome: result.Skip}, StatusSkip},
		{result.Case{Outcome: result.Unsupported}, StatusSkip},
		{result.Case{Outcome: result.Error, Reason: "timeout: case did not finish within 1m0s"}, StatusError},
		{result.Case{Outcome: result.Error, Reason: "the kernel reported WARNING: at x while this case ran"}, StatusError},
		{result.Case{Outcome: result.Error, Reason: "not run: crashed"}, StatusMiss},
	}
	for _, tc := range tests {
		if got := Status(tc.c); got != tc.want {
			t.Errorf("Status(%s %q) = %s, want %s", tc.c.Outcome, tc.c.Reason, got, tc.want)
		}
	}
	for s, want := range map[run.Status]string{run.Completed: StatusPass, run.Crashed: StatusFail, run.Interrupted: StatusMiss,
		run.QEMUFailed: StatusMiss, run.BootTimeout: StatusError, run.NoDone: StatusError} {
		if got := bootStatus(s); got != want {
			t.Errorf("bootStatus(%s) = %s, want %s", s, got, want)
		}
	}
}

func TestCasePath(t *testing.T) {
	tests := map[string]string{
		"set_tid/nested/3-levels-explicit": "vmtest.set_tid.nested.3-levels-explicit",
		"clone3/plain/ver0":                "vmtest.clone3.plain.ver0",
		"odd id/with spaces//x.y":          "vmtest.odd_id.with_spaces.x.y",
	}
	for id, want := range tests {
		got := CasePath(id)
		if got != want || !pathPat.MatchString(got) {
			t.Errorf("CasePath(%q) = %q, want %q (a valid path)", id, got, want)
		}
	}
}

func TestBadOrigin(t *testing.T) {
	for _, o := range []string{"My-CI", "ci:x", "a b"} {
		if _, err := Encode([]Run{{Result: loadResult(t, "run-pass.json")}}, Options{Origin: o}); err == nil || !strings.Contains(err.Error(), "lowercase") {
			t.Errorf("origin %q: err %v, want one saying what an origin may hold", o, err)
		}
	}
}

func TestLogExcerptKeepsTheEnd(t *testing.T) {
	long := strings.Repeat("x", LogExcerptMax) + "the cause"
	got := excerpt(long)
	if n := len([]rune(got)); n != LogExcerptMax || !strings.HasSuffix(got, "the cause") {
		t.Errorf("excerpt of %d chars is %d chars ending %q", len(long), n, got[len(got)-12:])
	}
}
