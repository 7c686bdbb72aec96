package kbuild

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseFragment(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		want    []Option
		wantErr string // substring; "" means no error
	}{
		{
			name: "assignments",
			data: "CONFIG_A=y\nCONFIG_B=m\nCONFIG_C=\"a string\"\nCONFIG_D=0x10\n",
			want: []Option{{"CONFIG_A", "y"}, {"CONFIG_B", "m"}, {"CONFIG_C", `"a string"`}, {"CONFIG_D", "0x10"}},
		},
		{
			name: "is not set means n",
			data: "# CONFIG_A is not set\nCONFIG_B=y\n",
			want: []Option{{"CONFIG_A", "n"}, {"CONFIG_B", "y"}},
		},
		{
			name: "comments blanks and surrounding space",
			data: "# a comment\n\n   \n#CONFIG_X is not set (not the exact form: a comment)\n  CONFIG_A=y  \n\t# indented comment\n",
			want: []Option{{"CONFIG_A", "y"}},
		},
		{
			name: "no trailing newline",
			data: "CONFIG_A=y",
			want: []Option{{"CONFIG_A", "y"}},
		},
		{
			name: "empty",
			data: "",
			want: nil,
		},
		{
			name: "duplicate with the same value kept once at first position",
			data: "CONFIG_A=y\nCONFIG_B=y\nCONFIG_A=y\n",
			want: []Option{{"CONFIG_A", "y"}, {"CONFIG_B", "y"}},
		},
		{
			name: "duplicate n in both spellings",
			data: "# CONFIG_A is not set\nCONFIG_A=n\n",
			want: []Option{{"CONFIG_A", "n"}},
		},
		{
			name:    "duplicate conflicting",
			data:    "CONFIG_A=y\n# c\nCONFIG_A=m\n",
			wantErr: "frag.config:3: CONFIG_A set twice (y and m)",
		},
		{
			name:    "duplicate conflicting with is not set",
			data:    "CONFIG_A=y\n# CONFIG_A is not set\n",
			wantErr: "frag.config:2: CONFIG_A set twice (y and n)",
		},
		{
			name:    "typo missing equals",
			data:    "CONFIG_A=y\n\nCONFIG_FOO y\n",
			wantErr: `frag.config:3: not a Kconfig assignment: "CONFIG_FOO y"`,
		},
		{
			name:    "name without CONFIG_ prefix",
			data:    "FOO=y\n",
			wantErr: `frag.config:1: not a Kconfig assignment: "FOO=y"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseFragment("frag.config", []byte(tt.data))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseFragment: no error, options %v; want error containing %q", f.Options, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseFragment error %q; want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseFragment: %v", err)
			}
			if f.Path != "frag.config" {
				t.Errorf("Path = %q, want frag.config", f.Path)
			}
			if !reflect.DeepEqual(f.Options, tt.want) {
				t.Errorf("Options = %#v\nwant %#v", f.Options, tt.want)
			}
		})
	}
}

func TestReadFragment(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.config")
	if err := os.WriteFile(p, []byte("CONFIG_A=y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFragment(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := (Fragment{Path: p, Options: []Option{{"CONFIG_A", "y"}}}); !reflect.DeepEqual(f, want) {
		t.Errorf("ReadFragment = %#v, want %#v", f, want)
	}
	if _, err := ReadFragment(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "read config fragment") {
		t.Errorf("ReadFragment(missing) error = %v, want read config fragment error", err)
	}
}

func frag(t *testing.T, text string) Fragment {
	t.Helper()
	f, err := ParseFragment("test", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMerge(t *testing.T) {
	base := strings.Join([]string{
		"#",
		"# Automatically generated file; DO NOT EDIT.",
		"#",
		"CONFIG_A=y",
		"# CONFIG_B is not set",
		"CONFIG_C=m",
		"",
		"# comment CONFIG_D=y",
		"CONFIG_E=\"x\"",
		"",
	}, "\n")
	tests := []struct {
		name  string
		base  string
		frags []string
		want  []string
	}{
		{
			name: "no fragments leaves base alone",
			base: base,
			want: []string{"#", "# Automatically generated file; DO NOT EDIT.", "#", "CONFIG_A=y", "# CONFIG_B is not set", "CONFIG_C=m", "", "# comment CONFIG_D=y", `CONFIG_E="x"`},
		},
		{
			name:  "rewrite in place and append new in request order",
			base:  base,
			frags: []string{"CONFIG_Z=y\nCONFIG_B=y\nCONFIG_Y=m\nCONFIG_A=n\n"},
			want:  []string{"#", "# Automatically generated file; DO NOT EDIT.", "#", "# CONFIG_A is not set", "CONFIG_B=y", "CONFIG_C=m", "", "# comment CONFIG_D=y", `CONFIG_E="x"`, "CONFIG_Z=y", "CONFIG_Y=m"},
		},
		{
			name:  "later fragment wins, order from first request",
			base:  base,
			frags: []string{"CONFIG_P=y\nCONFIG_Q=y\nCONFIG_C=y\n", "CONFIG_R=y\nCONFIG_P=m\n# CONFIG_Q is not set\n# CONFIG_C is not set\n"},
			want:  []string{"#", "# Automatically generated file; DO NOT EDIT.", "#", "CONFIG_A=y", "# CONFIG_B is not set", "# CONFIG_C is not set", "", "# comment CONFIG_D=y", `CONFIG_E="x"`, "CONFIG_P=m", "# CONFIG_Q is not set", "CONFIG_R=y"},
		},
		{
			name:  "option in a free comment is not rewritten",
			base:  base,
			frags: []string{"CONFIG_D=m\n"},
			want:  []string{"#", "# Automatically generated file; DO NOT EDIT.", "#", "CONFIG_A=y", "# CONFIG_B is not set", "CONFIG_C=m", "", "# comment CONFIG_D=y", `CONFIG_E="x"`, "CONFIG_D=m"},
		},
		{
			name:  "string value",
			base:  base,
			frags: []string{"CONFIG_E=\"new value\"\n"},
			want:  []string{"#", "# Automatically generated file; DO NOT EDIT.", "#", "CONFIG_A=y", "# CONFIG_B is not set", "CONFIG_C=m", "", "# comment CONFIG_D=y", `CONFIG_E="new value"`},
		},
		{
			name:  "option twice in base is written once, at its first place",
			base:  "CONFIG_A=y\nCONFIG_B=y\nCONFIG_A=m\n",
			frags: []string{"CONFIG_A=n\n"},
			want:  []string{"# CONFIG_A is not set", "CONFIG_B=y"},
		},
		{
			name:  "empty base",
			base:  "",
			frags: []string{"CONFIG_A=y\n# CONFIG_B is not set\n"},
			want:  []string{"CONFIG_A=y", "# CONFIG_B is not set"},
		},
		{
			name:  "base without final newline",
			base:  "CONFIG_A=y",
			frags: []string{"CONFIG_B=y\n"},
			want:  []string{"CONFIG_A=y", "CONFIG_B=y"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs []Fragment
			for _, s := range tt.frags {
				fs = append(fs, frag(t, s))
			}
			got := string(Merge([]byte(tt.base), fs...))
			want := strings.Join(tt.want, "\n") + "\n"
			if got != want {
				t.Errorf("Merge =\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestUnmet(t *testing.T) {
	final := "CONFIG_Y=y\nCONFIG_M=m\n# CONFIG_N is not set\nCONFIG_S=\"abc\"\nCONFIG_H=0x10\n"
	tests := []struct {
		name  string
		frags []string
		want  []string
	}{
		{"all met", []string{"CONFIG_Y=y\nCONFIG_M=m\n# CONFIG_N is not set\nCONFIG_S=\"abc\"\nCONFIG_H=0x10\n"}, nil},
		{"requested n and absent is met", []string{"# CONFIG_ABSENT is not set\n"}, nil},
		{"requested n explicitly is met by is-not-set", []string{"CONFIG_N=n\n"}, nil},
		{"requested y got n", []string{"CONFIG_N=y\n"}, []string{"CONFIG_N=y (got n)"}},
		{"requested y absent", []string{"CONFIG_ABSENT=y\n"}, []string{"CONFIG_ABSENT=y (got n)"}},
		{"requested m got y", []string{"CONFIG_Y=m\n"}, []string{"CONFIG_Y=m (got y)"}},
		{"requested y got m", []string{"CONFIG_M=y\n"}, []string{"CONFIG_M=y (got m)"}},
		{"requested n got y", []string{"# CONFIG_Y is not set\n"}, []string{"CONFIG_Y=n (got y)"}},
		{"string mismatch", []string{"CONFIG_S=\"abd\"\n"}, []string{`CONFIG_S="abd" (got "abc")`}},
		{"later fragment is what is checked", []string{"CONFIG_N=y\n", "# CONFIG_N is not set\n"}, nil},
		{"later fragment unmet", []string{"CONFIG_Y=y\n", "CONFIG_Y=m\n"}, []string{"CONFIG_Y=m (got y)"}},
		{
			"sorted",
			[]string{"CONFIG_ZZ=y\nCONFIG_AA=y\n", "CONFIG_MM=m\nCONFIG_Y=y\nCONFIG_BB=y\n"},
			[]string{"CONFIG_AA=y (got n)", "CONFIG_BB=y (got n)", "CONFIG_MM=m (got n)", "CONFIG_ZZ=y (got n)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs []Fragment
			for _, s := range tt.frags {
				fs = append(fs, frag(t, s))
			}
			got := Unmet([]byte(final), fs...)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Unmet = %q, want %q", got, tt.want)
			}
		})
	}
}
