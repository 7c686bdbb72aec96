package mutate

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/host/mutate/ctoken"
)

// Target is what to mutate in one file: the lines of a function, a line
// range, or the given lines (those a patch series adds).
type Target struct {
	// File is the path relative to the kernel tree.
	File string
	// Func names a function whose whole definition is the target.
	Func string
	// First and Last bound a line range (inclusive) when Func is empty
	// and Lines is nil.
	First, Last int
	// Lines are explicit line numbers (sorted), as from AddedLines.
	Lines []int
	// Stmt, with Func, narrows the target to one statement of the
	// function: the first whose code tokens begin with Stmt's (white
	// space and comments ignored), through its matching '}' when it
	// opens a block, else its ';'. It names code by what it says, not by
	// line numbers, which move with every update of the source.
	Stmt string
}

// String gives the target as it would be written on the command line.
func (t Target) String() string {
	switch {
	case t.Func != "" && t.Stmt != "":
		return t.File + ":" + t.Func + "@" + t.Stmt
	case t.Func != "":
		return t.File + ":" + t.Func
	case t.Lines != nil:
		return fmt.Sprintf("%s (%d added lines)", t.File, len(t.Lines))
	default:
		return fmt.Sprintf("%s:%d-%d", t.File, t.First, t.Last)
	}
}

var (
	funcName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	lineRange = regexp.MustCompile(`^([0-9]+)-([0-9]+)$`)
)

// ParseTarget reads FILE:FUNCTION, FILE:FUNCTION@STATEMENT or
// FILE:FIRST-LAST.
func ParseTarget(s string) (Target, error) {
	if head, stmt, ok := strings.Cut(s, "@"); ok {
		t, err := ParseTarget(head)
		if err != nil {
			return Target{}, err
		}
		if t.Func == "" || strings.TrimSpace(stmt) == "" {
			return Target{}, fmt.Errorf("target %q: want FILE:FUNCTION@STATEMENT, the statement's opening code after the @ (kernel/pid.c:alloc_pid@if (set_tid_size))", s)
		}
		toks, err := ctoken.Tokenize([]byte(stmt))
		if err != nil || len(ctoken.Code(toks)) == 0 {
			return Target{}, fmt.Errorf("target %q: the statement %q is no C code: %v", s, stmt, err)
		}
		t.Stmt = stmt
		return t, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return Target{}, fmt.Errorf("target %q: want FILE:FUNCTION (kernel/pid.c:alloc_pid), FILE:FUNCTION@STATEMENT (kernel/pid.c:alloc_pid@if (set_tid_size)) or FILE:FIRST-LAST (kernel/pid.c:180-210)", s)
	}
	t := Target{File: s[:i]}
	spec := s[i+1:]
	if m := lineRange.FindStringSubmatch(spec); m != nil {
		t.First, _ = strconv.Atoi(m[1])
		t.Last, _ = strconv.Atoi(m[2])
		if t.First < 1 || t.Last < t.First {
			return Target{}, fmt.Errorf("target %q: line range %s is empty or starts before line 1", s, spec)
		}
		return t, nil
	}
	if !funcName.MatchString(spec) {
		return Target{}, fmt.Errorf("target %q: %q is neither a function name nor a FIRST-LAST line range", s, spec)
	}
	t.Func = spec
	return t, nil
}

// lineSet is a set of lines as inclusive ranges.
type lineSet [][2]int

func (s lineSet) has(l int) bool {
	for _, r := range s {
		if l >= r[0] && l <= r[1] {
			return true
		}
	}
	return false
}

// overlaps reports whether any line of first..last is in the set.
func (s lineSet) overlaps(first, last int) bool {
	for _, r := range s {
		if r[0] <= last && first <= r[1] {
			return true
		}
	}
	return false
}

// resolve gives the lines the target covers in the file's code tokens.
func (t Target) resolve(toks []ctoken.Token, m []int) (lineSet, error) {
	switch {
	case t.Func != "":
		f, err := ctoken.FindFunction(toks, m, t.Func)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", t.File, err)
		}
		if t.Stmt != "" {
			return t.statement(toks, m, f)
		}
		return lineSet{{f.Line, f.EndLine}}, nil
	case t.Lines != nil:
		var s lineSet
		for _, l := range t.Lines {
			s = append(s, [2]int{l, l})
		}
		return s, nil
	}
	return lineSet{{t.First, t.Last}}, nil
}

// statement finds t.Stmt in the body of f and returns the lines of the
// statement it opens.
func (t Target) statement(toks []ctoken.Token, m []int, f ctoken.Func) (lineSet, error) {
	all, _ := ctoken.Tokenize([]byte(t.Stmt)) // checked by ParseTarget
	want := ctoken.Code(all)
	for i := f.LBrace + 1; i+len(want) <= f.RBrace; i++ {
		if !sameCode(toks[i:i+len(want)], want) {
			continue
		}
		// The statement's end: the block its first '{' opens (outside
		// brackets its own tokens close), or the first ';' at its level.
		depth := 0
		for j := i; j < f.RBrace; j++ {
			switch {
			case toks[j].Is("(") || toks[j].Is("["):
				depth++
			case toks[j].Is(")") || toks[j].Is("]"):
				depth--
			case depth == 0 && toks[j].Is("{"):
				return lineSet{{toks[i].Line, toks[m[j]].Line}}, nil
			case depth == 0 && toks[j].Is(";"):
				return lineSet{{toks[i].Line, toks[j].Line}}, nil
			}
		}
		break
	}
	return nil, fmt.Errorf("%s: no statement of %s opens with %q (white space aside)", t.File, t.Func, t.Stmt)
}

// sameCode compares code tokens by text.
func sameCode(a, b []ctoken.Token) bool {
	for i := range b {
		if a[i].Text != b[i].Text {
			return false
		}
	}
	return true
}

var hunkHeader = regexp.MustCompile(`^@@ -([0-9]+)(?:,([0-9]+))? \+([0-9]+)(?:,([0-9]+))? @@`)

// hunk is one @@ block: where it starts in the old and new file, and for
// each line of it whether it is context (' '), removed ('-') or added ('+').
type hunk struct {
	oldStart, newStart int
	ops                []byte
}

// fileDiff is one file's part of a diff.
type fileDiff struct {
	oldPath, newPath string // "" for /dev/null
	hunks            []hunk
}

// parseDiff reads the file diffs of a unified diff (git format-patch or
// diff -u output; paths with one leading component, a/ and b/, stripped).
func parseDiff(data []byte) ([]fileDiff, error) {
	var out []fileDiff
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	var cur *fileDiff
	var h *hunk
	oldLeft, newLeft := 0, 0
	lineNo := 0
	var pendingOld string
	for sc.Scan() {
		lineNo++
		l := sc.Text()
		if h != nil && (oldLeft > 0 || newLeft > 0) {
			op := byte(' ')
			if l != "" {
				op = l[0]
			}
			switch op {
			case ' ':
				oldLeft--
				newLeft--
			case '-':
				oldLeft--
			case '+':
				newLeft--
			case '\\': // "\ No newline at end of file"
				continue
			default:
				return nil, fmt.Errorf("diff line %d: hunk ends early (%d old and %d new lines missing): is the patch truncated or hand-edited?", lineNo, oldLeft, newLeft)
			}
			if oldLeft < 0 || newLeft < 0 {
				return nil, fmt.Errorf("diff line %d: hunk longer than its @@ header says", lineNo)
			}
			h.ops = append(h.ops, op)
			continue
		}
		switch {
		case strings.HasPrefix(l, "--- "):
			pendingOld = diffPath(l[4:])
		case strings.HasPrefix(l, "+++ "):
			out = append(out, fileDiff{oldPath: pendingOld, newPath: diffPath(l[4:])})
			cur = &out[len(out)-1]
			h = nil
		case strings.HasPrefix(l, "@@ "):
			mm := hunkHeader.FindStringSubmatch(l)
			if mm == nil || cur == nil {
				return nil, fmt.Errorf("diff line %d: bad hunk header %q (or a hunk before any +++ line)", lineNo, l)
			}
			os, _ := strconv.Atoi(mm[1])
			ns, _ := strconv.Atoi(mm[3])
			oldLeft, newLeft = 1, 1
			if mm[2] != "" {
				oldLeft, _ = strconv.Atoi(mm[2])
			}
			if mm[4] != "" {
				newLeft, _ = strconv.Atoi(mm[4])
			}
			// An empty side's start is the line before: "-0,0" for a new
			// file, "+12,0" for lines removed after line 12.
			if oldLeft == 0 {
				os++
			}
			if newLeft == 0 {
				ns++
			}
			cur.hunks = append(cur.hunks, hunk{oldStart: os, newStart: ns})
			h = &cur.hunks[len(cur.hunks)-1]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read diff: %w", err)
	}
	if h != nil && (oldLeft > 0 || newLeft > 0) {
		return nil, fmt.Errorf("diff ends inside a hunk (%d old and %d new lines missing): is the patch truncated?", oldLeft, newLeft)
	}
	return out, nil
}

// diffPath strips the a/ or b/ prefix and a trailing tab-separated date.
func diffPath(p string) string {
	if t := strings.IndexByte(p, '\t'); t >= 0 {
		p = p[:t]
	}
	if p == "/dev/null" {
		return ""
	}
	if i := strings.IndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// AddedLines applies a patch series in order to line numbers only: the
// result maps each file to the lines, numbered in the file after the last
// patch, that some patch added and no later patch removed. A line a later
// patch moves keeps its "added" mark at its new number.
func AddedLines(series ...[]byte) (map[string][]int, error) {
	added := map[string]map[int]bool{}
	for i, data := range series {
		fds, err := parseDiff(data)
		if err != nil {
			return nil, fmt.Errorf("patch %d: %w", i+1, err)
		}
		for _, fd := range fds {
			prev := added[fd.oldPath]
			if fd.oldPath != fd.newPath {
				delete(added, fd.oldPath)
			}
			if fd.newPath == "" {
				continue // deleted
			}
			next := map[int]bool{}
			// Lines outside hunks shift by the hunks before them.
			remap := func(old int) (int, bool) {
				delta := 0
				for _, h := range fd.hunks {
					o, n := h.oldStart, h.newStart
					if old < o {
						break
					}
					for _, op := range h.ops {
						switch op {
						case ' ':
							if o == old {
								return n, true
							}
							o++
							n++
						case '-':
							if o == old {
								return 0, false
							}
							o++
						case '+':
							n++
						}
					}
					delta = n - o
				}
				return old + delta, true
			}
			for l := range prev {
				if n, ok := remap(l); ok {
					next[n] = true
				}
			}
			for _, h := range fd.hunks {
				n := h.newStart
				for _, op := range h.ops {
					switch op {
					case '+':
						next[n] = true
						n++
					case ' ':
						n++
					}
				}
			}
			added[fd.newPath] = next
		}
	}
	out := map[string][]int{}
	for f, set := range added {
		if len(set) == 0 {
			continue
		}
		var ls []int
		for l := range set {
			ls = append(ls, l)
		}
		sort.Ints(ls)
		out[f] = ls
	}
	return out, nil
}

// PatchTargets turns a patch series into one target per C file it adds
// lines to, in path order; other files (headers included: their code is
// in macros and inline functions that are compiled elsewhere) are left
// out.
func PatchTargets(series ...[]byte) ([]Target, error) {
	added, err := AddedLines(series...)
	if err != nil {
		return nil, err
	}
	var ts []Target
	for f, ls := range added {
		if strings.HasSuffix(f, ".c") {
			ts = append(ts, Target{File: f, Lines: ls})
		}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].File < ts[j].File })
	if len(ts) == 0 {
		return nil, fmt.Errorf("the patches add no lines to any .c file: nothing to mutate")
	}
	return ts, nil
}
