package inputerr

import (
	"errors"
	"fmt"
	"io/fs"
	"testing"
)

func TestError(t *testing.T) {
	inner := Errorf("config", "nosuch", "no such file")
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"field and value", Errorf("out", "/tmp/r", "is an existing file"), "out /tmp/r: is an existing file"},
		{"no value", Errorf("exec", "", "takes no case patterns"), "exec: takes no case patterns"},
		{"no field", Wrap(errors.New(`--case "x" matches no case`)), `--case "x" matches no case`},
		{"nested", New("kernel", "build:config=nosuch", inner), "kernel build:config=nosuch: config nosuch: no such file"},
		{"wrapping a sentinel", New("out", "/r", fs.ErrExist), "out /r: file already exists"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			wrapped := fmt.Errorf("repeat 2 of 3: %w", tt.err)
			if !errors.Is(tt.err, ErrBadInput) || !errors.Is(wrapped, ErrBadInput) {
				t.Error("does not match ErrBadInput")
			}
		})
	}
	if !errors.Is(New("out", "/r", fs.ErrExist), fs.ErrExist) {
		t.Error("does not unwrap to its problem")
	}
	if errors.Is(errors.New("out /r: is a file"), ErrBadInput) {
		t.Error("a plain error matches ErrBadInput")
	}
	if Wrap(nil) != nil || Wrap(inner) != inner {
		t.Error("Wrap of nil or of bad input is not the error itself")
	}
}

func TestRender(t *testing.T) {
	flags := map[string]string{"kernel": "--kernel", "out": "--out", "config": "--config"}
	flag := func(field string) string { return flags[field] }
	nested := New("kernel", "build:config=nosuch", Errorf("config", "nosuch", "no such file"))
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"the field becomes the flag", Errorf("out", "/r", "is a file"), "--out /r: is a file"},
		{"a wrapper is kept", fmt.Errorf("repeat 1 of 2: %w", Errorf("out", "/r", "is a file")), "repeat 1 of 2: --out /r: is a file"},
		{"only the outermost field is a flag", nested, "--kernel build:config=nosuch: config nosuch: no such file"},
		{"a field without a flag is shown as it is", Errorf("tree", "/src", "is not a kernel source tree"), "tree /src: is not a kernel source tree"},
		{"no field", Wrap(errors.New("QEMU not found")), "QEMU not found"},
		{"not bad input", errors.New("make failed"), "make failed"},
	} {
		if got := Render(tt.err, flag); got != tt.want {
			t.Errorf("%s: Render = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestOneOf(t *testing.T) {
	type mode string
	for _, tt := range []struct {
		valid []mode
		want  string
	}{
		{[]mode{"auto", "kvm", "tcg"}, "want auto, kvm or tcg"},
		{[]mode{"proxy", "exec"}, "want proxy or exec"},
		{[]mode{"only"}, "want only"},
		{nil, "no value is valid"},
	} {
		if got := OneOf(tt.valid).Error(); got != tt.want {
			t.Errorf("OneOf(%v) = %q, want %q", tt.valid, got, tt.want)
		}
	}
}
