package run

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/internal/testutils"
)

func TestParseKernel(t *testing.T) {
	dir := t.TempDir()
	img, err := testutils.WriteBzImage(dir)
	if err != nil {
		t.Fatal(err)
	}
	write := func(rel, data string) string {
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := filepath.Dir(write("good/result.json", `{"run_id":"r","status":"completed","cases":[{"id":"a","outcome":"pass"}]}`))
	corrupt := filepath.Dir(write("corrupt/result.json", `{"run_id":"r","status":`))
	badOutcome := filepath.Dir(write("badoutcome/result.json", `{"run_id":"r","status":"completed","cases":[{"id":"a","outcome":"great"}]}`))
	noResult := filepath.Dir(write("noresult/console.log", ""))
	noDiff := write("nodiff.patch", "notes\n")
	for _, tc := range []struct {
		name, arg string
		results   bool
		kind      KernelKind
		want      string // error text; "" for accepted
	}{
		{"bzImage", img, false, KernelImage, ""},
		{"debian", "debian", false, KernelDebian, ""},
		{"debian for compare", "debian", true, KernelDebian, ""},
		{"build", "build", false, KernelBuild, ""},
		{"build with the built-in fragment", "build:config=minimal", false, KernelBuild, ""},
		{"result", good, true, KernelResult, ""},
		{"empty", "", false, "", "no kernel: pass --kernel"},
		{"missing", filepath.Join(dir, "nope"), false, "", "no such file"},
		{"result directory for run", good, false, "", "directory"},
		{"corrupt result", corrupt, true, "", "--base: " + corrupt + "/result.json is not a vmtest result"},
		{"unknown outcome", badOutcome, true, "", `unknown outcome "great"`},
		{"directory without result.json", noResult, true, "", "is a directory without result.json"},
		{"unknown spec key", "build:colour=red", false, "", `unknown key "colour"`},
		{"missing patch", "build:patch=" + filepath.Join(dir, "missing.patch"), false, "", "missing.patch"},
		{"patch without diff", "build:patch=" + noDiff, false, "", "contains no diff"},
		{"unknown fragment", "build:config=nosuch", false, "", "--config nosuch: no such file, and no built-in fragment"},
		{"unknown base", "build:base=tinyconf", false, "", `--base "tinyconf" is neither`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			flag := "--kernel"
			if tc.results {
				flag = "--base"
			}
			k, err := ParseKernel(flag, tc.arg, tc.results)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if k.Kind != tc.kind || k.Arg != tc.arg {
					t.Errorf("kind %s arg %q, want %s %q", k.Kind, k.Arg, tc.kind, tc.arg)
				}
				if (k.Kind == KernelResult) != (k.Result != nil) || k.Bootable() == (k.Kind == KernelResult) {
					t.Errorf("result %v bootable %v for kind %s", k.Result, k.Bootable(), k.Kind)
				}
				return
			}
			var ue *UsageError
			if err == nil || !errors.As(err, &ue) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want a usage error containing %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error is more than one line: %q", err)
			}
		})
	}
}
