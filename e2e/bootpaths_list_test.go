package e2e

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// notOnBothPaths are the tests that boot the minimal kernel but are not
// run again on the other boot path (make test-boot-paths), and why. None
// today; the map is where an exception would have to say why.
var notOnBothPaths = map[string]string{}

// TestBootPathTestsListed: every end-to-end test that boots the minimal
// kernel (kernel(t, "build") or kernel(t, minimalSpec), which EnvMinimal
// redirects) is in the
// Makefile's BOOT_PATH_TESTS, so that a new one runs on both boot paths
// without anyone remembering to list it.
func TestBootPathTestsListed(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^BOOT_PATH_TESTS := (.*)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("the Makefile has no BOOT_PATH_TESTS line")
	}
	listed := map[string]bool{}
	for _, n := range strings.Split(string(m[1]), "|") {
		listed[n] = true
	}
	files, _ := filepath.Glob("*_test.go")
	fset := token.NewFileSet()
	booting := map[string]bool{}
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Body == nil {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				if bootsMinimal(n) {
					booting[fn.Name.Name] = true
				}
				return true
			})
		}
	}
	if len(booting) < 5 {
		t.Fatalf("found only %d tests booting the minimal kernel (%v): the search is broken", len(booting), booting)
	}
	for name := range booting {
		if _, exempt := notOnBothPaths[name]; !listed[name] && !exempt {
			t.Errorf("%s boots the minimal kernel but is not in the Makefile's BOOT_PATH_TESTS: add it (or to notOnBothPaths, saying why)", name)
		}
	}
	for name := range listed {
		if !booting[name] {
			t.Errorf("BOOT_PATH_TESTS lists %s, which does not boot the minimal kernel (kernel(t, minimalSpec))", name)
		}
	}
}

// bootsMinimal reports whether n is kernel(_, "build") or names
// minimalSpec (which only the minimal kernel's tests do, to pass it to
// kernel).
func bootsMinimal(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.Ident:
		return n.Name == "minimalSpec"
	case *ast.CallExpr:
		id, ok := n.Fun.(*ast.Ident)
		if !ok || id.Name != "kernel" || len(n.Args) != 2 {
			return false
		}
		lit, ok := n.Args[1].(*ast.BasicLit)
		return ok && lit.Value == `"`+minimalSpec+`"`
	}
	return false
}
