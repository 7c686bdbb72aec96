package kbuild

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// Option is one Kconfig assignment: Value is what follows "CONFIG_X=", or
// "n" for "# CONFIG_X is not set".
type Option struct {
	Name  string // with the CONFIG_ prefix
	Value string
}

// Fragment is a parsed config fragment: its options in file order.
type Fragment struct {
	Path    string
	Options []Option
}

var (
	setLine   = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetLine = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// parseOption reads one .config or fragment line; ok is false for
// comments, blanks and anything else that assigns nothing.
func parseOption(line string) (o Option, ok bool) {
	line = strings.TrimSpace(line)
	if m := setLine.FindStringSubmatch(line); m != nil {
		return Option{m[1], m[2]}, true
	}
	if m := unsetLine.FindStringSubmatch(line); m != nil {
		return Option{m[1], "n"}, true
	}
	return Option{}, false
}

// ParseFragment parses a config fragment. Lines that are neither
// assignments, "is not set" comments, other comments nor blank are errors:
// a typo in a fragment would otherwise be silently ignored.
func ParseFragment(path string, data []byte) (Fragment, error) {
	f := Fragment{Path: path}
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		o, ok := parseOption(line)
		switch {
		case ok:
			if prev, dup := seen[o.Name]; dup {
				if f.Options[prev].Value != o.Value {
					return f, fmt.Errorf("%s:%d: %s set twice (%s and %s)", path, n, o.Name, f.Options[prev].Value, o.Value)
				}
				continue
			}
			seen[o.Name] = len(f.Options)
			f.Options = append(f.Options, o)
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			return f, fmt.Errorf("%s:%d: not a Kconfig assignment: %q (want CONFIG_NAME=value or \"# CONFIG_NAME is not set\")", path, n, line)
		}
	}
	return f, sc.Err()
}

// ReadFragment reads and parses a fragment file.
func ReadFragment(path string) (Fragment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Fragment{}, fmt.Errorf("read config fragment: %w", err)
	}
	return ParseFragment(path, data)
}

func formatOption(o Option) string {
	if o.Value == "n" {
		return "# " + o.Name + " is not set"
	}
	return o.Name + "=" + o.Value
}

// Merge applies fragments, later ones winning, to a full .config: an
// option already present is rewritten in place, a new one is appended.
// The result still needs `make olddefconfig` to resolve dependencies;
// Unmet then tells which requests did not survive it.
func Merge(base []byte, frags ...Fragment) []byte {
	want := map[string]string{}
	var order []string
	for _, f := range frags {
		for _, o := range f.Options {
			if _, ok := want[o.Name]; !ok {
				order = append(order, o.Name)
			}
			want[o.Name] = o.Value
		}
	}
	var out bytes.Buffer
	done := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(base))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if o, ok := parseOption(line); ok {
			if v, ok := want[o.Name]; ok {
				if !done[o.Name] {
					out.WriteString(formatOption(Option{o.Name, v}) + "\n")
					done[o.Name] = true
				}
				continue
			}
		}
		out.WriteString(line + "\n")
	}
	for _, name := range order {
		if !done[name] {
			out.WriteString(formatOption(Option{name, want[name]}) + "\n")
		}
	}
	return out.Bytes()
}

// Unmet lists the fragment requests that the final .config does not
// honour, as "CONFIG_X=want (got G)". Kconfig drops a request silently
// when its dependencies are missing; the build refuses that instead of
// producing a kernel that lacks what the matrix needs.
func Unmet(final []byte, frags ...Fragment) []string {
	got := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(final))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if o, ok := parseOption(sc.Text()); ok {
			got[o.Name] = o.Value
		}
	}
	want := map[string]string{}
	for _, f := range frags {
		for _, o := range f.Options {
			want[o.Name] = o.Value
		}
	}
	var unmet []string
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			g = "n" // absent means its menu is hidden: not set
		}
		if g != w {
			unmet = append(unmet, fmt.Sprintf("%s=%s (got %s)", name, w, g))
		}
	}
	sort.Strings(unmet)
	return unmet
}
