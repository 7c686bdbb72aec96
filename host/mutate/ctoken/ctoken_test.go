package ctoken

import (
	"fmt"
	"strings"
	"testing"
)

// render shows tokens as kind:text, one per token, so a table can say
// exactly how a snippet splits.
func render(toks []Token) string {
	var b []string
	for _, t := range toks {
		b = append(b, fmt.Sprintf("%s:%s", t.Kind, t.Text))
	}
	return strings.Join(b, " ")
}

func TestTokenize(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"arrow and shifts", "a->b<<=c>>d>=e", "ident:a punct:-> ident:b punct:<<= ident:c punct:>> ident:d punct:>= ident:e"},
		{"relational", "x<=y<z", "ident:x punct:<= ident:y punct:< ident:z"},
		{"char literal <", "c=='<'", "ident:c punct:== char:'<'"},
		{"escaped char", `'\''+'\\'`, `char:'\'' punct:+ char:'\\'`},
		{"string with comment and quote", `"a /* b */ \" < c"`, `string:"a /* b */ \" < c"`},
		{"wide prefixes", `L"x" u8"y" L'z' Lx`, `string:L"x" string:u8"y" char:L'z' ident:Lx`},
		{"block comment", "a/* x < y */b", "ident:a comment:/* x < y */ ident:b"},
		{"line comment", "a // x < y\nb", "ident:a comment:// x < y ident:b"},
		{"define with continuation", "#define M(x) \\\n\t((x) < 1)\nint y;", "preproc:#define M(x) \\\n\t((x) < 1) ident:int ident:y punct:;"},
		{"indented directive", "  # if A < 2 // c\nx", "preproc:# if A < 2 // c ident:x"},
		{"directive after comment", "/* c */ #include <a.h>\nx", "comment:/* c */ preproc:#include <a.h> ident:x"},
		{"hash mid line is punct", "a # b", "ident:a punct:# ident:b"},
		{"directive with apostrophe", "#error don't\nx", "preproc:#error don't ident:x"},
		{"directive with multi-line comment", "#if A /* a\nb */\nx", "preproc:#if A /* a\nb */ ident:x"},
		{"numbers", "0x1fUL 10 1e-3 .5 07", "number:0x1fUL number:10 number:1e-3 number:.5 number:07"},
		{"minus is not part of number", "a-1", "ident:a punct:- number:1"},
		{"ellipsis and incdec", "f(...);i++--j", "ident:f punct:( punct:... punct:) punct:; ident:i punct:++ punct:-- ident:j"},
		{"logical", "a&&b||!c&d|e", "ident:a punct:&& ident:b punct:|| punct:! ident:c punct:& ident:d punct:| ident:e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			toks, err := Tokenize([]byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if got := render(toks); got != tt.want {
				t.Errorf("Tokenize(%q)\n got %s\nwant %s", tt.src, got, tt.want)
			}
			for _, tk := range toks {
				if tt.src[tk.Off:tk.End] != tk.Text {
					t.Errorf("token %q: offsets %d..%d hold %q", tk.Text, tk.Off, tk.End, tt.src[tk.Off:tk.End])
				}
			}
		})
	}
}

func TestPositions(t *testing.T) {
	src := "int a;\n/* two\nlines */ b\n\tc->d"
	toks, err := Tokenize([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		text               string
		line, col, endLine int
	}{
		{"int", 1, 1, 1}, {"a", 1, 5, 1}, {";", 1, 6, 1},
		{"/* two\nlines */", 2, 1, 3}, {"b", 3, 10, 3},
		{"c", 4, 2, 4}, {"->", 4, 3, 4}, {"d", 4, 5, 4},
	}
	if len(toks) != len(want) {
		t.Fatalf("got %d tokens: %s", len(toks), render(toks))
	}
	for i, w := range want {
		g := toks[i]
		if g.Text != w.text || g.Line != w.line || g.Col != w.col || g.EndLine != w.endLine {
			t.Errorf("token %d: got %q at %d:%d-%d, want %q at %d:%d-%d", i, g.Text, g.Line, g.Col, g.EndLine, w.text, w.line, w.col, w.endLine)
		}
	}
}

func TestTokenizeErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{"a /* open", "line 1:3: unterminated /* comment"},
		{"x\n  \"abc\nd\"", "line 2:3: unterminated string literal"},
		{"'a", "line 1:1: unterminated character literal"},
	}
	for _, tt := range tests {
		_, err := Tokenize([]byte(tt.src))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Tokenize(%q) error = %v, want %q", tt.src, err, tt.want)
		}
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		src     string
		pairs   [][2]int // token index pairs expected to match
		wantErr string
	}{
		{src: "f(a[1]){x;}", pairs: [][2]int{{1, 6}, {3, 5}, {7, 10}}},
		// A brace in a comment, string, char or directive does not count.
		{src: "{ /* { */ \"{\" '{' \n#define X {\n }", pairs: [][2]int{{0, 3}}},
		{src: "f(a]", wantErr: `line 1:4: "]" does not match "(" at line 1:2`},
		{src: "{ (", wantErr: `line 1:3: unclosed "("`},
		{src: ")", wantErr: `line 1:1: unmatched ")"`},
	}
	for _, tt := range tests {
		all, err := Tokenize([]byte(tt.src))
		if err != nil {
			t.Fatal(err)
		}
		toks := Code(all)
		m, err := Match(toks)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Match(%q) error = %v, want %q", tt.src, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Match(%q): %v", tt.src, err)
		}
		for _, p := range tt.pairs {
			if m[p[0]] != p[1] || m[p[1]] != p[0] {
				t.Errorf("Match(%q): %d and %d do not pair (m=%v, tokens %s)", tt.src, p[0], p[1], m, render(toks))
			}
		}
	}
}

func TestFunctions(t *testing.T) {
	src := `struct s { int a; };
static int tab[] = { 1, 2 };
#define F(x) { x }
/* int fake(void) { } */
static int one(int a,
	       int b)
{
	if (a) { return b; }
	return 0;
}
SYSCALL_DEFINE2(clone3, struct clone_args __user *, uargs, size_t, size)
{
	return 0;
}
int proto(void);
noinline static int two(void) { return "}"[0]; }
`
	all, err := Tokenize([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	toks := Code(all)
	m, err := Match(toks)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range Functions(toks, m) {
		got = append(got, fmt.Sprintf("%s:%d-%d", f.Name, f.Line, f.EndLine))
		if !toks[f.LBrace].Is("{") || !toks[f.RBrace].Is("}") || !toks[f.LParen].Is("(") || !toks[f.RParen].Is(")") {
			t.Errorf("%s: bad bracket indices %+v", f.Name, f)
		}
	}
	want := "one:5-10 SYSCALL_DEFINE2:11-14 two:16-16"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("Functions = %s, want %s", g, want)
	}
	if _, err := FindFunction(toks, m, "one"); err != nil {
		t.Error(err)
	}
	if _, err := FindFunction(toks, m, "fake"); err == nil || !strings.Contains(err.Error(), "no definition of function fake") {
		t.Errorf("FindFunction(fake) = %v, want no definition", err)
	}
}

func TestFindFunctionTwice(t *testing.T) {
	src := "#ifdef A\nint f(void) { return 1; }\n#else\nint f(void) { return 2; }\n#endif\n"
	all, _ := Tokenize([]byte(src))
	toks := Code(all)
	m, err := Match(toks)
	if err != nil {
		t.Fatal(err)
	}
	_, err = FindFunction(toks, m, "f")
	if err == nil || !strings.Contains(err.Error(), "defined 2 times (lines 2, 4") {
		t.Errorf("FindFunction = %v, want defined twice", err)
	}
}
