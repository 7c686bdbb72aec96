package mutate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadExplanations: a file lacking what matching needs is refused with
// the entry named.
func TestReadExplanations(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		body, wantErr string
		n             int
	}{
		{`{"explanations": [{"id": "x", "file": "a.c", "operator": "and-or", "code": "if (a && b)", "why": "b implies a"}]}`, "", 1},
		{`{"explanations": [{"id": "x", "file": "a.c", "operator": "and-or", "code": "if (a && b)"}]}`, "explanation 1 (x) lacks", 0},
		{`{"explanations": [`, "unexpected end", 0},
	} {
		p := filepath.Join(dir, "e.json")
		os.WriteFile(p, []byte(tt.body), 0o644)
		es, err := ReadExplanations(p)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: error %v, want %q", tt.body, err, tt.wantErr)
			}
			continue
		}
		if err != nil || len(es) != tt.n {
			t.Errorf("%s: %d explanations, %v", tt.body, len(es), err)
		}
	}
}

// TestCheckedInExplanations: every entry of kernels/mutate/*.json matches
// exactly one mutant of the function as Debian's 6.1 has it (the copy in
// testdata, whose line numbers differ from the tree's: matching must not
// depend on them). testdata/explained.json keeps the two entries the
// set_tid file held until a new case killed their mutants, so that the
// matching is tested on real entries while the checked-in file is empty.
func TestCheckedInExplanations(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "kernels", "mutate", "*.json"))
	if len(files) == 0 {
		t.Fatal("no explanation files in kernels/mutate")
	}
	files = append(files, filepath.Join("testdata", "explained.json"))
	total := 0
	ms, err := Generate(Target{File: "copy_clone_args_from_user.c", Func: "copy_clone_args_from_user"}, readTestdata(t, "copy_clone_args_from_user.c"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		es, err := ReadExplanations(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			e.File = "copy_clone_args_from_user.c" // the testdata copy's name
			n := 0
			for _, m := range ms {
				if e.Matches(m) {
					n++
				}
			}
			if n != 1 {
				t.Errorf("%s: %s matches %d mutants, want 1", f, e.ID, n)
			}
			total++
		}
	}
	if total < 2 {
		t.Errorf("%d explanations checked, want at least testdata's two", total)
	}
}
