package mutate

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/mutate/ctoken"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		in      string
		want    Target
		wantErr string
	}{
		{in: "kernel/pid.c:alloc_pid", want: Target{File: "kernel/pid.c", Func: "alloc_pid"}},
		{in: "kernel/pid.c:180-210", want: Target{File: "kernel/pid.c", First: 180, Last: 210}},
		{in: "a:b.c:7-7", want: Target{File: "a:b.c", First: 7, Last: 7}},
		{in: "kernel/pid.c", wantErr: "want FILE:FUNCTION"},
		{in: "kernel/pid.c:", wantErr: "want FILE:FUNCTION"},
		{in: "kernel/pid.c:20-10", wantErr: "line range 20-10 is empty"},
		{in: "kernel/pid.c:0-3", wantErr: "starts before line 1"},
		{in: "kernel/pid.c:alloc_pid@if (set_tid_size)", want: Target{File: "kernel/pid.c", Func: "alloc_pid", Stmt: "if (set_tid_size)"}},
		{in: "kernel/pid.c:alloc_pid@ ", wantErr: "want FILE:FUNCTION@STATEMENT"},
		{in: "kernel/pid.c:1-9@if (x)", wantErr: "want FILE:FUNCTION@STATEMENT"},
		{in: "kernel/pid.c:alloc_pid@/* only */", wantErr: "is no C code"},
		{in: "kernel/pid.c:alloc-pid", wantErr: `"alloc-pid" is neither a function name nor a FIRST-LAST line range`},
	}
	for _, tt := range tests {
		got, err := ParseTarget(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseTarget(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

const patch1 = `From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
Subject: [PATCH 1/2] pid: check more

--- a/kernel/pid.c
+++ b/kernel/pid.c
@@ -10,4 +10,6 @@ struct pid *alloc_pid(
 	a;
+	b;
+	c;
 	d;
-	e;
+	f;
 	g;
--- /dev/null
+++ b/kernel/new.c
@@ -0,0 +1,2 @@
+int x;
+int y;
-- 
2.39.2
`

// patch2 is made against the tree with patch1 applied: it inserts two
// lines at the top (shifting patch1's), removes "c" (added by patch1)
// and deletes kernel/new.c.
const patch2 = `--- a/kernel/pid.c
+++ b/kernel/pid.c
@@ -1,2 +1,4 @@
+	p;
+	q;
 	one;
 	two;
@@ -11,3 +13,2 @@
 	b;
-	c;
 	d;
--- a/kernel/new.c
+++ /dev/null
@@ -1,2 +0,0 @@
-int x;
-int y;
`

func TestAddedLines(t *testing.T) {
	tests := []struct {
		name   string
		series []string
		want   map[string][]int
	}{
		{"one patch", []string{patch1}, map[string][]int{"kernel/pid.c": {11, 12, 14}, "kernel/new.c": {1, 2}}},
		{"second shifts, removes and deletes", []string{patch1, patch2}, map[string][]int{"kernel/pid.c": {1, 2, 13, 15}}},
		{"pure removal adds nothing", []string{"--- a/f.c\n+++ b/f.c\n@@ -3,1 +2,0 @@\n-x;\n"}, map[string][]int{}},
	}
	for _, tt := range tests {
		var series [][]byte
		for _, s := range tt.series {
			series = append(series, []byte(s))
		}
		got, err := AddedLines(series...)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: AddedLines = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestAddedLinesErrors(t *testing.T) {
	tests := []struct{ diff, want string }{
		{"--- a/f.c\n+++ b/f.c\n@@ -1,3 +1,3 @@\n a\n", "diff ends inside a hunk"},
		{"--- a/f.c\n+++ b/f.c\n@@ -1,2 +1,2 @@\n a\nxyz\n", "hunk ends early"},
		{"--- a/f.c\n+++ b/f.c\n@@ bogus @@\n", "bad hunk header"},
	}
	for _, tt := range tests {
		_, err := AddedLines([]byte(tt.diff))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("AddedLines(%q) error = %v, want %q", tt.diff, err, tt.want)
		}
	}
}

func TestPatchTargets(t *testing.T) {
	ts, err := PatchTargets([]byte(patch1), []byte("--- a/include/x.h\n+++ b/include/x.h\n@@ -1,0 +1,1 @@\n+#define X 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tg := range ts {
		got = append(got, fmt.Sprintf("%s%v", tg.File, tg.Lines))
	}
	if want := "kernel/new.c[1 2] kernel/pid.c[11 12 14]"; strings.Join(got, " ") != want {
		t.Errorf("PatchTargets = %q, want %q", got, want)
	}
	if _, err := PatchTargets([]byte("--- a/x.h\n+++ b/x.h\n@@ -1,0 +1,1 @@\n+int a;\n")); err == nil || !strings.Contains(err.Error(), "no lines to any .c file") {
		t.Errorf("header-only patch: err = %v", err)
	}
}

// TestPatchTargetMutants: with a target from a patch, only the added
// line is mutated, though the function has more to offer.
func TestPatchTargetMutants(t *testing.T) {
	src := []byte("int f(int a)\n{\n\tif (a < 1)\n\t\treturn 0;\n\treturn a > 2;\n}\n")
	diff := "--- a/t.c\n+++ b/t.c\n@@ -4,2 +4,2 @@\n \t\treturn 0;\n-\treturn a;\n+\treturn a > 2;\n }\n"
	ts, err := PatchTargets([]byte(diff))
	if err != nil {
		t.Fatal(err)
	}
	ms, err := Generate(ts[0], src, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range ms {
		got = append(got, fmt.Sprintf("%d:%s", m.Line, m.Operator))
	}
	want := "5:relational-boundary 5:constant-off-by-one 5:constant-off-by-one"
	if strings.Join(got, " ") != want {
		t.Errorf("mutants %q, want %q", got, want)
	}
}

// TestStatementTarget: FILE:FUNCTION@STATEMENT covers the statement that
// opens with that code, white space aside: a block through its '}', a
// simple statement through its ';', a multi-line call through the ';'
// after its arguments; code found nowhere is an error.
func TestStatementTarget(t *testing.T) {
	src := readTestdata(t, "alloc_pid.c")
	tests := []struct {
		stmt        string
		first, last int
		wantErr     string
	}{
		{stmt: "if (set_tid_size) {", first: 33, last: 49},
		{stmt: "if(set_tid_size)", first: 33, last: 49},
		{stmt: "retval = -EINVAL;", first: 36, last: 36},
		{stmt: "if (tid < 1 || tid >= pid_max)", first: 37, last: 38},
		{stmt: "if (set_tid_size > 1)", wantErr: "no statement of alloc_pid opens with"},
	}
	for _, tt := range tests {
		tgt, err := ParseTarget("alloc_pid.c:alloc_pid@" + tt.stmt)
		if err != nil {
			t.Fatal(err)
		}
		all, err := ctoken.Tokenize(src)
		if err != nil {
			t.Fatal(err)
		}
		toks := ctoken.Code(all)
		m, err := ctoken.Match(toks)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tgt.resolve(toks, m)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: error %v, want %q", tt.stmt, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, lineSet{{tt.first, tt.last}}) {
			t.Errorf("%q: lines %v, %v; want %d-%d", tt.stmt, got, err, tt.first, tt.last)
		}
	}
	// The statement target yields exactly the line range's mutants.
	byStmt, err := Generate(Target{File: "alloc_pid.c", Func: "alloc_pid", Stmt: "if (set_tid_size) {"}, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	byLines, err := Generate(Target{File: "alloc_pid.c", First: 33, Last: 49}, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(byStmt) == 0 || !reflect.DeepEqual(byStmt, byLines) {
		t.Errorf("statement target: %d mutants, line range: %d; want the same, more than none", len(byStmt), len(byLines))
	}
}
