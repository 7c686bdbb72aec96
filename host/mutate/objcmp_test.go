package mutate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// compile builds src with gcc -O2 -c into dir/name.o, as the kernel
// builds (optimised, no debug info unless asked).
func compile(t *testing.T, dir, name, src string, extra ...string) string {
	t.Helper()
	c := filepath.Join(dir, name+".c")
	o := filepath.Join(dir, name+".o")
	if err := os.WriteFile(c, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := append([]string{"-O2", "-c", "-o", o, c}, extra...)
	if out, err := exec.CommandContext(ctx, "gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", name, err, out)
	}
	return o
}

func TestSameCode(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found")
	}
	const pre = "extern int g(int); extern int h(int); extern const char *s(const char *);\n"
	tests := []struct {
		name string
		a, b string
		// extra flags for b only
		bflags []string
		same   bool
	}{
		{"< 10 is <= 9", "int f(int x) { return x < 10 ? g(x) : 0; }", "int f(int x) { return x <= 9 ? g(x) : 0; }", nil, true},
		{"< 10 is not <= 10", "int f(int x) { return x < 10 ? g(x) : 0; }", "int f(int x) { return x <= 10 ? g(x) : 0; }", nil, false},
		// Same bytes, another callee: only the relocation tells.
		{"call to another function", "int f(int x) { return g(x); }", "int f(int x) { return h(x); }", nil, false},
		{"another string", `const char *f(void) { return s("a"); }`, `const char *f(void) { return s("b"); }`, nil, false},
		{"static data initialiser", "int f(void) { static int n = 5; return n++; }", "int f(void) { static int n = 6; return n++; }", nil, false},
		// Debug info and the .comment section do not count.
		{"debug info ignored", "int f(int x) { return g(x); }", "int f(int x) { return g(x); }", []string{"-g"}, true},
		// A dead store is gone after optimisation: equivalent.
		{"dead assignment", "int f(int x) { int y = x; y = 3; return g(x); }", "int f(int x) { int y = x; return g(x); }", nil, true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			a := compile(t, dir, "a", pre+tt.a)
			b := compile(t, dir, "b", pre+tt.b, tt.bflags...)
			same, err := SameCode(a, b)
			if err != nil {
				t.Fatal(err)
			}
			if same != tt.same {
				t.Errorf("case %d %s: SameCode = %v, want %v", i, tt.name, same, tt.same)
			}
		})
	}
}

// TestSameCodeLineNumbers shows why mutants must not shift lines: the
// same code one line lower differs in .rodata (__LINE__), the kernel's
// WARN_ON and BUG_ON tables record lines the same way.
func TestSameCodeLineNumbers(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not found")
	}
	dir := t.TempDir()
	const body = "extern void warn(const char *, int);\nvoid f(int x) { if (x) warn(__FILE__, __LINE__); }\n"
	a := compile(t, dir, "a", body)
	b := compile(t, dir, "b", "\n"+body)
	same, err := SameCode(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if same {
		t.Error("a line-shifted __LINE__ compared as the same code")
	}
}

func TestCodeDigestErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.o")
	os.WriteFile(p, []byte("not an object"), 0o644)
	if _, err := CodeDigest(p); err == nil || !strings.Contains(err.Error(), "read object "+p) {
		t.Errorf("CodeDigest(garbage) = %v", err)
	}
}
