package mutate

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/host/mutate/ctoken"
)

// mutantsOf generates the mutants of one operator over every function of
// src, rendered as line:original→replacement.
func mutantsOf(t *testing.T, src, op string) []string {
	t.Helper()
	ms, err := Generate(Target{File: "t.c", First: 1, Last: 1 << 30}, []byte(src), []string{op})
	if err != nil {
		t.Fatalf("Generate(%s): %v", op, err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("%d:%s→%s", m.Line, m.Original, m.Replacement))
	}
	return out
}

func TestOperators(t *testing.T) {
	tests := []struct {
		name, op, src string
		want          []string
	}{
		{
			name: "relational skips comments strings chars and directives",
			op:   OpRelational,
			src: `int f(int x)
{
	/* x < 1 */ // x > 2
	if (x < '<' && s("a<=b"))
		return 1;
#define LIM(a) ((a) > 3)
	return x >= LIM(x);
}`,
			want: []string{"4:<→<=", "7:>=→>"},
		},
		{
			name: "shifts and arrows are not relational",
			op:   OpRelational,
			src:  "void f(struct s *p, int y)\n{\n\tp->a = p->b << 2;\n\ty >>= 1;\n\ty <<= p->c >> 1;\n\ty = y <= 3;\n}\n",
			want: []string{"6:<=→<"},
		},
		{
			name: "negation wraps a multi-line condition and keeps its newline",
			op:   OpNegate,
			src:  "int f(int a, int b)\n{\n\tif (a &&\n\t    b)\n\t\treturn 1;\n\twhile (a--)\n\t\tb++;\n\treturn 0;\n}\n",
			want: []string{"3:a &&\n\t    b→!(a &&\n\t    b)", "6:a--→!(a--)"},
		},
		{
			name: "forced conditions apply to if only",
			op:   OpCondFalse,
			src:  "int f(int a)\n{\n\tif (a)\n\t\treturn 1;\n\twhile (a)\n\t\ta--;\n\tdo { a++; } while (a < 3);\n\treturn 0;\n}\n",
			want: []string{"3:a→0 && (a)"},
		},
		{
			name: "and-or is binary only",
			op:   OpAndOr,
			src:  "void *f(int a, int b)\n{\n\tif (a && b || !a)\n\t\treturn &&lbl;\nlbl:\n\treturn 0;\n}\n",
			want: []string{"3:&&→||", "3:||→&&"},
		},
		{
			name: "constants keep base and suffix",
			op:   OpConstant,
			src:  "unsigned long f(unsigned long a)\n{\n\tchar c = 'a';\n\treturn a + 0x1fUL + 0 - 07 + 1.5;\n}\n",
			want: []string{"4:0x1fUL→0x20UL", "4:0x1fUL→0x1eUL", "4:0→1", "4:0→(-1)", "4:07→010", "4:07→06"},
		},
		{
			name: "errno swapped once, other E-names left alone",
			op:   OpErrno,
			src:  "int f(int a)\n{\n\tEXPORT_THING(a);\n\tif (a == -ENOSPC)\n\t\treturn -EEXIST;\n\treturn -EINVAL;\n}\n",
			want: []string{"4:ENOSPC→EAGAIN", "5:EEXIST→EAGAIN", "6:EINVAL→EPERM"},
		},
		{
			name: "error exits: guarded returns and every goto, not the final return",
			op:   OpRemoveExit,
			src:  "int f(int a)\n{\n\tif (a < 0)\n\t\treturn -EINVAL;\n\tif (a > 9) {\n\t\ta = 0;\n\t\tgoto out;\n\t}\n\tswitch (a) {\n\tcase 1: return 2;\n\t}\nout:\n\treturn a;\n}\n",
			want: []string{"4:return -EINVAL;→{}", "7:goto out;→;", "10:return 2;→;"},
		},
		{
			name: "statement deletion: calls and assignments, not declarations or bare increments",
			op:   OpDeleteStmt,
			src:  "int f(struct s *p)\n{\n\tint n = 1;\n\tpid_t *k = p->k;\n\tstruct s t;\n\tg(p);\n\t*p = (struct s){ .a = n, };\n\tp->n += n;\n\tn++;\n\tif (n)\n\t\th(\n\t\t  n);\n\treturn n;\n}\n",
			want: []string{"6:g(p);→;", "7:*p = (struct s){ .a = n, };→;", "8:p->n += n;→;", "11:h(\n\t\t  n);→{}\n"},
		},
		{
			name: "a loop macro's body is walked as a loop's",
			op:   OpDeleteStmt,
			src:  "void f(struct list_head *h)\n{\n\tstruct s *p;\n\tlist_for_each_entry(p, h, node) {\n\t\tg(p);\n\t}\n\tfor_each_cpu(c, m)\n\t\th(c);\n\tk(h);\n}\n",
			want: []string{"5:g(p);→;", "8:h(c);→{}", "9:k(h);→;"},
		},
		{
			name: "increments removed except in a for step",
			op:   OpRemoveIncDec,
			src:  "void f(int *p, int n)\n{\n\tint i;\n\tfor (i = 0; i < n; i++, --n)\n\t\tp[i]++;\n\twhile (--n > 0)\n\t\t;\n}\n",
			want: []string{"5:++→", "6:--→"},
		},
		{
			name: "argument swaps between same-typed variables in scope",
			op:   OpSwapArg,
			src: `int f(struct ns *a, struct ns *b, long c)
{
	int i, j;
	long d = 0;
	g(&a->idr, i, c, i + 1);
	{
		int k = 0;
		h(k);
	}
	return h(j);
}`,
			want: []string{"5:a→b", "5:i→j", "5:c→d", "8:k→i", "8:k→j", "10:j→i"},
		},
		{
			name: "an inner declaration shadows an outer one of another type",
			op:   OpSwapArg,
			src:  "void f(int a, int b)\n{\n\t{\n\t\tlong a = 0;\n\t\tg(a);\n\t}\n\tg(b);\n}\n",
			want: []string{"7:b→a"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mutantsOf(t, tt.src, tt.op)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("%s mutants\n got %q\nwant %q", tt.op, got, tt.want)
			}
		})
	}
}

func TestGenerateUnknownOperator(t *testing.T) {
	_, err := Generate(Target{File: "t.c", First: 1, Last: 9}, []byte("int f(void) { return 0; }"), []string{"flip-bits"})
	if err == nil || !strings.Contains(err.Error(), `unknown mutation operator "flip-bits"`) {
		t.Errorf("err = %v, want unknown operator", err)
	}
}

// TestDuplicatesFolded: two edits that make the same file (here the
// same token replaced the same way by two operators, as happens when a
// deleted `x--;` and a removed decrement coincide) give one mutant, the
// first; different replacements at one position get numbered IDs.
func TestDuplicatesFolded(t *testing.T) {
	src := []byte("int f(int x) { return x < 1; }")
	all, _ := ctoken.Tokenize(src)
	toks := ctoken.Code(all)
	lt := 0
	for i, tk := range toks {
		if tk.Is("<") {
			lt = i
		}
	}
	fo := newFolder("t.c", src)
	fo.add(toks, "f", edit{op: OpRelational, first: lt, last: lt, repl: "<=", rule: "a"})
	fo.add(toks, "f", edit{op: OpNegate, first: lt, last: lt, repl: "<=", rule: "b"})
	fo.add(toks, "f", edit{op: OpRelational, first: lt, last: lt, repl: ">", rule: "c"})
	var got []string
	for _, m := range fo.out {
		got = append(got, m.ID+" "+m.Rule)
	}
	want := []string{"relational-boundary@t.c:1:25 a", "relational-boundary@t.c:1:25#2 c"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("folded mutants %q, want %q", got, want)
	}
}

// TestLinesNeverShift checks, over every mutant of the two real
// functions, the property the equivalence check relies on: the mutated
// file has the same number of lines and every line outside the mutant's
// own is unchanged, the mutated file still tokenizes with balanced
// brackets, and the diff applies with git apply.
func TestLinesNeverShift(t *testing.T) {
	for _, tc := range realFuncs {
		t.Run(tc.fn, func(t *testing.T) {
			src := readTestdata(t, tc.file)
			ms, err := Generate(Target{File: tc.file, Func: tc.fn}, src, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) < 20 {
				t.Fatalf("only %d mutants", len(ms))
			}
			orig := strings.Split(string(src), "\n")
			for _, m := range ms {
				mut := m.Apply(src)
				lines := strings.Split(string(mut), "\n")
				if len(lines) != len(orig) {
					t.Errorf("%s: %d lines, original %d", m.ID, len(lines), len(orig))
					continue
				}
				last := m.Line + strings.Count(m.Original, "\n")
				for i := range orig {
					if (i+1 < m.Line || i+1 > last) && orig[i] != lines[i] {
						t.Errorf("%s changed line %d outside %d-%d", m.ID, i+1, m.Line, last)
					}
				}
				all, err := ctoken.Tokenize(mut)
				if err == nil {
					_, err = ctoken.Match(ctoken.Code(all))
				}
				if err != nil {
					t.Errorf("%s: mutated file does not read back: %v", m.ID, err)
				}
				if m.Rule == "" || m.Operator == "" {
					t.Errorf("%s: no rule or operator", m.ID)
				}
			}
			checkDiffsApply(t, tc.file, src, ms)
		})
	}
}

// checkDiffsApply applies every mutant's diff to a copy of src with git
// apply and compares the result with Apply's.
func checkDiffsApply(t *testing.T, file string, src []byte, ms []Mutant) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Log("git not found: diffs not applied")
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, file)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if err := os.WriteFile(path, src, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("git", "apply", "-p1", "-")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
		cmd.Stdin = strings.NewReader(m.Diff)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: git apply: %v: %s\n%s", m.ID, err, out, m.Diff)
			continue
		}
		got, _ := os.ReadFile(path)
		if string(got) != string(m.Apply(src)) {
			t.Errorf("%s: the diff does not make the mutant\n%s", m.ID, m.Diff)
		}
	}
}

var realFuncs = []struct{ file, fn string }{
	{"alloc_pid.c", "alloc_pid"},
	{"copy_clone_args_from_user.c", "copy_clone_args_from_user"},
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFindsIssue10Mutants: the hand-made mutants of docs/mutants-issue10.md
// that are one operator's change are among the generated ones, each as the
// mutated line reads there.
func TestFindsIssue10Mutants(t *testing.T) {
	tests := []struct {
		file, fn, op, line string
	}{
		// eexist-as-eagain
		{"alloc_pid.c", "alloc_pid", OpErrno, "nr = -EAGAIN;"},
		// pid-max-off-by-one
		{"alloc_pid.c", "alloc_pid", OpRelational, "if (tid < 1 || tid > pid_max)"},
		// idr-wrong-ns
		{"alloc_pid.c", "alloc_pid", OpSwapArg, "nr = idr_alloc(&ns->idr, NULL, tid,"},
		// no-init-check
		{"alloc_pid.c", "alloc_pid", OpCondFalse, "if (0 && (tid != 1 && !tmp->child_reaper))"},
		// the set_tid_size-- bookkeeping
		{"alloc_pid.c", "alloc_pid", OpRemoveIncDec, "set_tid_size;"},
		// set_tid privilege check gone
		{"alloc_pid.c", "alloc_pid", OpRemoveExit, "{}"},
		// a size of 33 accepted
		{"copy_clone_args_from_user.c", "copy_clone_args_from_user", OpRelational, "if (unlikely(args.set_tid_size >= MAX_PID_NS_LEVEL))"},
		// an unreadable array not reported
		{"copy_clone_args_from_user.c", "copy_clone_args_from_user", OpErrno, "return -EINVAL;"},
	}
	for _, tt := range tests {
		src := readTestdata(t, tt.file)
		ms, err := Generate(Target{File: tt.file, Func: tt.fn}, src, []string{tt.op})
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		found := false
		for _, m := range ms {
			l := strings.TrimSpace(strings.Split(string(m.Apply(src)), "\n")[m.Line-1])
			lines = append(lines, l)
			if l == tt.line {
				found = true
			}
		}
		if !found {
			sort.Strings(lines)
			t.Errorf("%s %s: no mutant makes the line %q; lines made: %q", tt.fn, tt.op, tt.line, lines)
		}
	}
}

func TestTargetLinesRestrictMutants(t *testing.T) {
	src := readTestdata(t, "alloc_pid.c")
	all, err := Generate(Target{File: "alloc_pid.c", Func: "alloc_pid"}, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The set_tid block: `if (set_tid_size) {` to its closing brace.
	part, err := Generate(Target{File: "alloc_pid.c", First: 33, Last: 49}, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(part) == 0 || len(part) >= len(all) {
		t.Fatalf("set_tid block: %d mutants of %d", len(part), len(all))
	}
	for _, m := range part {
		if m.Line < 33 || m.Line > 49 {
			t.Errorf("%s outside lines 33-49", m.ID)
		}
	}
	lines, err := Generate(Target{File: "alloc_pid.c", Lines: []int{37}}, src, nil)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, m := range lines {
		ops = append(ops, m.Operator)
	}
	// if (tid < 1 || tid >= pid_max): negate, true, false, two
	// relationals, 1±1, and ||→&&.
	want := []string{OpNegate, OpCondTrue, OpCondFalse, OpRelational, OpConstant, OpConstant, OpAndOr, OpRelational}
	if strings.Join(ops, " ") != strings.Join(want, " ") {
		t.Errorf("line 37 operators %q, want %q", ops, want)
	}
}
