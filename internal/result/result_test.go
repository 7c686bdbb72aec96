package result

import (
	"encoding/json"
	"testing"
)

func TestOutcomeValidFailed(t *testing.T) {
	tests := []struct {
		o             Outcome
		valid, failed bool
	}{
		{Pass, true, false},
		{Fail, true, true},
		{Skip, true, false},
		{Unsupported, true, false},
		{Error, true, true},
		{"", false, false},
		{"PASS", false, false},
		{"timeout", false, false},
	}
	for _, tt := range tests {
		if got := tt.o.Valid(); got != tt.valid {
			t.Errorf("Outcome(%q).Valid() = %v, want %v", tt.o, got, tt.valid)
		}
		if got := tt.o.Failed(); got != tt.failed {
			t.Errorf("Outcome(%q).Failed() = %v, want %v", tt.o, got, tt.failed)
		}
	}
}

func TestAnswerMatches(t *testing.T) {
	tests := []struct {
		name     string
		want     Answer
		got      Answer
		expected bool
	}{
		{"errno equal", Answer{Errno: "EINVAL"}, Answer{Errno: "EINVAL"}, true},
		{"errno differs", Answer{Errno: "EINVAL"}, Answer{Errno: "EEXIST"}, false},
		{"errno expected, success got", Answer{Errno: "EEXIST"}, Answer{PID: 300}, false},
		{"success expected, errno got", Answer{}, Answer{Errno: "EPERM"}, false},
		{"errno expected, PID ignored", Answer{Errno: "EINVAL", PID: 5}, Answer{Errno: "EINVAL"}, true},
		{"any success", Answer{}, Answer{PID: 1234, NSpid: []int{1234, 1}}, true},
		{"PID equal", Answer{PID: 300}, Answer{PID: 300}, true},
		{"PID differs", Answer{PID: 300}, Answer{PID: 301}, false},
		{"PID any", Answer{PID: 0}, Answer{PID: 301}, true},
		{"NSpid equal", Answer{NSpid: []int{1, 300}}, Answer{PID: 300, NSpid: []int{1, 300}}, true},
		{"NSpid inner differs", Answer{NSpid: []int{1, 300}}, Answer{NSpid: []int{2, 300}}, false},
		{"NSpid outer differs", Answer{NSpid: []int{1, 300}}, Answer{NSpid: []int{1, 301}}, false},
		{"NSpid wildcard", Answer{NSpid: []int{1, 0, 300}}, Answer{NSpid: []int{1, 77, 300}}, true},
		{"NSpid all wildcards", Answer{NSpid: []int{0, 0}}, Answer{NSpid: []int{5, 6}}, true},
		{"NSpid shorter", Answer{NSpid: []int{1, 300}}, Answer{NSpid: []int{1}}, false},
		{"NSpid longer", Answer{NSpid: []int{1}}, Answer{NSpid: []int{1, 300}}, false},
		{"NSpid missing", Answer{NSpid: []int{0}}, Answer{PID: 3}, false},
		{"NSpid unspecified", Answer{PID: 3}, Answer{PID: 3, NSpid: []int{3, 1}}, true},
		{"PID and NSpid, PID wrong", Answer{PID: 300, NSpid: []int{1, 300}}, Answer{PID: 299, NSpid: []int{1, 300}}, false},
		{"note equal", Answer{Note: "3 races"}, Answer{Note: "3 races"}, true},
		{"note differs", Answer{Note: "3 races"}, Answer{Note: "4 races"}, false},
		{"note missing", Answer{Note: "3 races"}, Answer{}, false},
		{"note not expected", Answer{}, Answer{Note: "anything"}, true},
		{"note differs with errno", Answer{Errno: "EEXIST", Note: "a"}, Answer{Errno: "EEXIST", Note: "b"}, false},
		{"note equal with errno", Answer{Errno: "EEXIST", Note: "a"}, Answer{Errno: "EEXIST", Note: "a"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.want.Matches(tt.got); got != tt.expected {
				t.Errorf("%v.Matches(%v) = %v, want %v", tt.want, tt.got, got, tt.expected)
			}
		})
	}
}

func TestAnswerString(t *testing.T) {
	tests := []struct {
		a    Answer
		want string
	}{
		{Answer{}, "success"},
		{Answer{Errno: "EINVAL"}, "EINVAL"},
		{Answer{Errno: "EINVAL", PID: 3}, "EINVAL"},
		{Answer{PID: 300}, "pid 300"},
		{Answer{PID: 300, NSpid: []int{300, 7}}, "pid 300 nspid [300 7]"},
		{Answer{NSpid: []int{0, 7}}, "pid * nspid [* 7]"},
		{Answer{Note: "3 races"}, "3 races"},
		{Answer{Errno: "EEXIST", Note: "2nd call"}, "EEXIST; 2nd call"},
		{Answer{PID: 5, Note: "n"}, "pid 5; n"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.a, got, tt.want)
		}
	}
}

func TestCaseJSON(t *testing.T) {
	c := Case{
		ID: "nested.x", Group: "nested", Outcome: Fail,
		Expected:   &Answer{Errno: "EEXIST"},
		Observed:   &Answer{PID: 300, NSpid: []int{300, 1}},
		Reason:     "r",
		DurationMS: 1.25,
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"nested.x","group":"nested","outcome":"fail","expected":{"errno":"EEXIST"},"observed":{"pid":300,"nspid":[300,1]},"reason":"r","duration_ms":1.25}`
	if string(b) != want {
		t.Errorf("json = %s\nwant   %s", b, want)
	}
}

func TestKernelReport(t *testing.T) {
	tests := []struct {
		c    Case
		want string
	}{
		{Case{Outcome: Error, Reason: KernelReportPrefix + "WARNING: at kernel/fork.c:2953 copy_clone_args_from_user" + KernelReportSuffix + " (beside it ran x)"},
			"WARNING: at kernel/fork.c:2953 copy_clone_args_from_user"},
		{Case{Outcome: Error, Reason: KernelReportPrefix + "BUG: a; WARNING: b" + KernelReportSuffix}, "BUG: a; WARNING: b"},
		{Case{Outcome: Fail, Reason: KernelReportPrefix + "BUG: a" + KernelReportSuffix}, ""},
		{Case{Outcome: Error, Reason: "timeout: case did not end"}, ""},
		{Case{Outcome: Error, Reason: KernelReportPrefix + "no suffix"}, ""},
	}
	for _, tt := range tests {
		if got := tt.c.KernelReport(); got != tt.want {
			t.Errorf("KernelReport(%q) = %q, want %q", tt.c.Reason, got, tt.want)
		}
	}
}
