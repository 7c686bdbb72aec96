package kbuild

import (
	"reflect"
	"strings"
	"testing"
)

func TestIsSpec(t *testing.T) {
	tests := []struct {
		s    string
		want bool
	}{
		{"build", true},
		{"build:", true},
		{"build:patch=a", true},
		{"builds", false},
		{"build=x", false},
		{"Build", false},
		{"", false},
		{"/boot/vmlinuz", false},
		{"out/build", false},
	}
	for _, tt := range tests {
		if got := IsSpec(tt.s); got != tt.want {
			t.Errorf("IsSpec(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}

func TestParseSpec(t *testing.T) {
	tests := []struct {
		s       string
		spec    Spec
		configs []string
		wantErr string
	}{
		{s: "build"},
		{s: "build:"},
		{
			s:       "build:patch=a,patch=b,config=x,tree=/t,base=defconfig",
			spec:    Spec{Tree: "/t", Base: "defconfig", Patches: []string{"a", "b"}},
			configs: []string{"x"},
		},
		{
			s:       "build:config=minimal,config=/f/extra.config,base=/b/.config",
			spec:    Spec{Base: "/b/.config"},
			configs: []string{"minimal", "/f/extra.config"},
		},
		{
			s:    "build:tree=/a,tree=/b",
			spec: Spec{Tree: "/b"},
		},
		{
			s:    "build:patch=x=y.patch",
			spec: Spec{Patches: []string{"x=y.patch"}},
		},
		{s: "builds", wantErr: `"builds" is not a build spec`},
		{s: "kernel:patch=a", wantErr: `"kernel:patch=a" is not a build spec`},
		{s: "build:foo=1", wantErr: `unknown key "foo"`},
		{s: "build:patch", wantErr: `"patch" is not key=value`},
		{s: "build:patch=", wantErr: `"patch=" is not key=value`},
		{s: "build:patch=a,", wantErr: `"" is not key=value`},
		{s: "build:patch=a,,config=b", wantErr: `"" is not key=value`},
		{s: "build:=a", wantErr: `unknown key ""`},
	}
	for _, tt := range tests {
		t.Run(tt.s, func(t *testing.T) {
			sp, configs, err := ParseSpec(tt.s)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("ParseSpec(%q): no error, spec %+v", tt.s, sp)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSpec(%q) error %q; want it to contain %q", tt.s, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseSpec(%q): %v", tt.s, err)
			}
			if !reflect.DeepEqual(sp, tt.spec) {
				t.Errorf("spec = %+v, want %+v", sp, tt.spec)
			}
			if !reflect.DeepEqual(configs, tt.configs) {
				t.Errorf("configs = %q, want %q", configs, tt.configs)
			}
		})
	}
}
