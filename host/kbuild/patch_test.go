package kbuild

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// formatPatch builds one git format-patch message.
func formatPatch(sha, subject, body, diff string) string {
	return "From " + sha + " Mon Sep 17 00:00:00 2001\n" +
		"From: A U Thor <author@example.com>\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\n" +
		"Subject: " + subject + "\n" +
		"\n" +
		body +
		"---\n" +
		diff +
		"-- \n2.39.5\n\n"
}

func diffOf(file string) string {
	return "diff --git a/" + file + " b/" + file + "\n" +
		"index 1111111..2222222 100644\n" +
		"--- a/" + file + "\n" +
		"+++ b/" + file + "\n" +
		"@@ -1,3 +1,3 @@\n" +
		" one\n" +
		"-two\n" +
		"+TWO\n" +
		" three\n"
}

func TestParsePatches(t *testing.T) {
	type want struct {
		Index   int
		Subject string
		Files   []string
	}
	newFile := "diff --git a/kernel/new.c b/kernel/new.c\n" +
		"new file mode 100644\n" +
		"index 0000000..3333333\n" +
		"--- /dev/null\n" +
		"+++ b/kernel/new.c\n" +
		"@@ -0,0 +1 @@\n" +
		"+int x;\n"
	deleted := "diff --git a/kernel/old.c b/kernel/old.c\n" +
		"deleted file mode 100644\n" +
		"index 3333333..0000000\n" +
		"--- a/kernel/old.c\n" +
		"+++ /dev/null\n" +
		"@@ -1 +0,0 @@\n" +
		"-int x;\n"
	tests := []struct {
		name string
		data string
		want []want
	}{
		{
			name: "single message, tag stripped",
			data: formatPatch("0123456789abcdef0123456789abcdef01234567", "[PATCH 2/3] fork: do a thing", "Body.\n\n", diffOf("kernel/fork.c")),
			want: []want{{1, "fork: do a thing", []string{"kernel/fork.c"}}},
		},
		{
			name: "folded subject",
			data: formatPatch("0123456789abcdef0123456789abcdef01234567", "[PATCH v2 1/1] pid: a long subject\n that goes on\n\tand on", "Body.\n\n", diffOf("kernel/pid.c")),
			want: []want{{1, "pid: a long subject that goes on and on", []string{"kernel/pid.c"}}},
		},
		{
			name: "subject without tag kept whole",
			data: formatPatch("0123456789abcdef0123456789abcdef01234567", "fork: [not a tag] inside", "Body.\n\n", diffOf("kernel/fork.c")),
			want: []want{{1, "fork: [not a tag] inside", []string{"kernel/fork.c"}}},
		},
		{
			name: "Subject: in the body is not the subject",
			data: formatPatch("0123456789abcdef0123456789abcdef01234567", "[PATCH] real subject", "Subject: quoted in the body\n\n", diffOf("kernel/fork.c")),
			want: []want{{1, "real subject", []string{"kernel/fork.c"}}},
		},
		{
			name: "mbox of three",
			data: formatPatch("1111111111111111111111111111111111111111", "[PATCH 1/3] one", "From the start this body line\nlooks like a separator but is not.\n\n", diffOf("kernel/fork.c")) +
				formatPatch("2222222222222222222222222222222222222222", "[PATCH 2/3] two", "Body two.\n\n", diffOf("kernel/pid.c")+diffOf("kernel/fork.c")) +
				formatPatch("3333333333333333333333333333333333333333", "[PATCH 3/3] three", "Body three.\n\n", diffOf("include/linux/pid.h")),
			want: []want{
				{1, "one", []string{"kernel/fork.c"}},
				{2, "two", []string{"kernel/pid.c", "kernel/fork.c"}},
				{3, "three", []string{"include/linux/pid.h"}},
			},
		},
		{
			name: "bare unified diff",
			data: diffOf("kernel/fork.c"),
			want: []want{{1, "", []string{"kernel/fork.c"}}},
		},
		{
			name: "diff -u style with timestamps after a tab",
			data: "--- a/kernel/fork.c\t2024-01-01 00:00:00.000000000 +0000\n+++ b/kernel/fork.c\t2024-01-01 00:00:01.000000000 +0000\n@@ -1 +1 @@\n-a\n+b\n",
			want: []want{{1, "", []string{"kernel/fork.c"}}},
		},
		{
			name: "new and deleted files: /dev/null ignored",
			data: formatPatch("0123456789abcdef0123456789abcdef01234567", "[PATCH] add and remove", "\n", newFile+deleted),
			want: []want{{1, "add and remove", []string{"kernel/new.c", "kernel/old.c"}}},
		},
		{
			name: "rename with changes lists both names",
			data: "--- a/kernel/old.c\n+++ b/kernel/renamed.c\n@@ -1 +1 @@\n-a\n+b\n",
			want: []want{{1, "", []string{"kernel/old.c", "kernel/renamed.c"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := ParsePatches("series.patch", []byte(tt.data))
			if err != nil {
				t.Fatalf("ParsePatches: %v", err)
			}
			var got []want
			for _, p := range ps {
				got = append(got, want{p.Index, p.Subject, p.Files})
				if p.Source != "series.patch" {
					t.Errorf("patch %d Source = %q", p.Index, p.Source)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("patches = %+v\nwant %+v", got, tt.want)
			}
			// The chunks are the input, split: nothing lost, nothing added.
			var all []byte
			for _, p := range ps {
				all = append(all, p.Data...)
			}
			if string(all) != tt.data {
				t.Errorf("concatenated Data differs from the input:\n%s\nwant\n%s", all, tt.data)
			}
		})
	}
}

func TestParsePatchesMboxChunks(t *testing.T) {
	m1 := formatPatch("1111111111111111111111111111111111111111", "[PATCH 1/2] one", "From the start\n\n", diffOf("a.c"))
	m2 := formatPatch("2222222222222222222222222222222222222222", "[PATCH 2/2] two", "Body.\n\n", diffOf("b.c"))
	ps, err := ParsePatches("s", []byte(m1+m2))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("got %d patches, want 2", len(ps))
	}
	if string(ps[0].Data) != m1 || string(ps[1].Data) != m2 {
		t.Errorf("chunks split in the wrong place:\n--- 1:\n%s\n--- 2:\n%s", ps[0].Data, ps[1].Data)
	}
}

func TestParsePatchesErrors(t *testing.T) {
	tests := []struct {
		name string
		data string
		want string
	}{
		{"empty", "", "patch bad.patch: is empty"},
		{"only blank lines", "\n\n  \n", "patch bad.patch: is empty"},
		{"text without diff", "just some notes\nno diff here\n", "patch bad.patch: message 1 contains no diff"},
		{
			"message without diff names subject",
			formatPatch("0123456789abcdef0123456789abcdef01234567", "[PATCH 0/2] cover letter", "Cover.\n\n", ""),
			"patch bad.patch: message 1 (cover letter) contains no diff",
		},
		{
			"second message without diff",
			formatPatch("1111111111111111111111111111111111111111", "[PATCH 1/2] one", "\n", diffOf("a.c")) +
				formatPatch("2222222222222222222222222222222222222222", "[PATCH 2/2] two", "\n", ""),
			"patch bad.patch: message 2 (two) contains no diff",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := ParsePatches("bad.patch", []byte(tt.data))
			if err == nil {
				t.Fatalf("ParsePatches: no error, %d patches", len(ps))
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if ps != nil {
				t.Errorf("patches = %v on error, want nil", ps)
			}
		})
	}
}

// repoRoot is the module root, two levels above this package.
const repoRoot = "../.."

func TestParseRealPatches(t *testing.T) {
	broken, _ := filepath.Glob(filepath.Join(repoRoot, "kernels", "broken", "*set_tid-permission-check.patch"))
	if len(broken) != 1 {
		t.Fatalf("kernels/broken/*set_tid-permission-check.patch: found %q, want one file", broken)
	}
	tests := []struct {
		path    string
		subject string
		file    string
	}{
		{filepath.Join(repoRoot, "kernels", "0001-clone3-withdraw-set_tid.patch"), "clone3: withdraw set_tid (answer E2BIG as Linux 5.4 did)", "kernel/fork.c"},
		{broken[0], "pid: check set_tid privilege in the caller's user namespace (deliberately broken)", "kernel/pid.c"},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			ps, err := ReadPatches([]string{tt.path})
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 {
				t.Fatalf("got %d patches, want 1", len(ps))
			}
			p := ps[0]
			if p.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", p.Subject, tt.subject)
			}
			if !reflect.DeepEqual(p.Files, []string{tt.file}) {
				t.Errorf("Files = %q, want [%q]", p.Files, tt.file)
			}
			if p.Source != tt.path || p.Index != 1 {
				t.Errorf("Source, Index = %q, %d; want %q, 1", p.Source, p.Index, tt.path)
			}
		})
	}
}

func TestReadPatches(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.patch")
	b := filepath.Join(dir, "b.mbox")
	empty := filepath.Join(dir, "empty.patch")
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(a, formatPatch("1111111111111111111111111111111111111111", "[PATCH] a", "\n", diffOf("a.c")))
	write(b, formatPatch("2222222222222222222222222222222222222222", "[PATCH 1/2] b1", "\n", diffOf("b1.c"))+
		formatPatch("3333333333333333333333333333333333333333", "[PATCH 2/2] b2", "\n", diffOf("b2.c")))
	write(empty, "")

	ps, err := ReadPatches([]string{b, a})
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Source  string
		Index   int
		Subject string
	}
	var g []got
	for _, p := range ps {
		g = append(g, got{p.Source, p.Index, p.Subject})
	}
	want := []got{{b, 1, "b1"}, {b, 2, "b2"}, {a, 1, "a"}}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("ReadPatches = %+v, want %+v", g, want)
	}

	if ps, err := ReadPatches(nil); err != nil || ps != nil {
		t.Errorf("ReadPatches(nil) = %v, %v; want nil, nil", ps, err)
	}
	if _, err := ReadPatches([]string{a, filepath.Join(dir, "missing.patch")}); err == nil || !strings.Contains(err.Error(), "missing.patch") {
		t.Errorf("missing file: error = %v, want one naming missing.patch", err)
	}
	if _, err := ReadPatches([]string{a, empty}); err == nil || !strings.Contains(err.Error(), "patch "+empty+": is empty") {
		t.Errorf("empty file: error = %v, want one naming %s", err, empty)
	}
}
