package catalog

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSelectFrom(t *testing.T) {
	ids := []string{"a/x/1", "a/x/2", "a/y/1", "b/x/1"}
	id := func(s string) string { return s }
	for _, tc := range []struct {
		patterns []string
		want     []string
		err      string
	}{
		{nil, ids, ""},
		{[]string{"a/x/*"}, []string{"a/x/1", "a/x/2"}, ""},
		{[]string{"a/*"}, nil, "matches no case"}, // * does not cross '/'
		{[]string{"a/**"}, []string{"a/x/1", "a/x/2", "a/y/1"}, ""},
		{[]string{"a/"}, []string{"a/x/1", "a/x/2", "a/y/1"}, ""},
		{[]string{"b/x/1", "a/y/1"}, []string{"a/y/1", "b/x/1"}, ""}, // run order, not pattern order
		{[]string{"a/x/1", "a/x/*"}, []string{"a/x/1", "a/x/2"}, ""}, // no duplicates
		{[]string{"a/x/1", "nope"}, nil, `"nope" matches no case`},
		{[]string{"["}, nil, "malformed"},
	} {
		got, err := SelectFrom(ids, id, tc.patterns)
		if tc.err != "" {
			var pe *PatternError
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &pe) {
				t.Errorf("SelectFrom(%q) = %v, %v; want a *PatternError containing %q", tc.patterns, got, err, tc.err)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("SelectFrom(%q) = %v, %v; want %v", tc.patterns, got, err, tc.want)
		}
	}
}

func TestFeatures(t *testing.T) {
	all := Clone3 | SetTID | PIDNS | UserNS | CheckpointRestoreCap | ClearSighand | Cgroup2
	for _, f := range []Feature{0, Clone3, all, SetTID | UserNS} {
		back, err := ParseFeatures(f.String())
		if err != nil || back != f {
			t.Errorf("ParseFeatures(%q) = %v, %v; want %v", f.String(), back, err, f)
		}
	}
	if _, err := ParseFeatures("clone3,warp_drive"); err == nil {
		t.Error("ParseFeatures accepted an unknown feature")
	}
	if got := featureCode(SetTID | PIDNS); got != "SetTID | PIDNS" {
		t.Errorf("featureCode = %q", got)
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		s    Setup
		want string
	}{
		{Setup{}, "uid 0"},
		{Setup{Levels: []Level{{UserNS: true}, {}}, UID: 1000}, "pidns depth 2 (userns at level 1), uid 1000"},
		{Setup{KeepOnlyCaps: []Cap{CapCheckpointRestore}}, "uid 0, only CAP_CHECKPOINT_RESTORE"},
		{Setup{DropCaps: []Cap{CapSysAdmin, 7}, OwnProcess: true}, "uid 0, without CAP_SYS_ADMIN+cap 7, own process"},
	} {
		if got := tc.s.Describe(); got != tc.want {
			t.Errorf("Describe(%+v) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// TestRenderRoundTrip: the generated source spells every field so that the
// catalog reads back what was rendered.
func TestRenderRoundTrip(t *testing.T) {
	src, err := Render([]Info{{ID: "a/b/c", Group: "b", Rule: "r \"q\"", Expect: "e", Needs: SetTID | Cgroup2,
		Setup: Setup{Levels: []Level{{}, {UserNS: true}}, UID: 7, AmbientCaps: []Cap{CapSysAdmin}, DropCaps: []Cap{Cap(3)}, OwnProcess: true}, Exclusive: true, Serial: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`ID: "a/b/c"`, `Rule: "r \"q\""`, "Needs: SetTID | Cgroup2", "Levels: []Level{{}, {UserNS: true}}", "UID: 7",
		"AmbientCaps: []Cap{CapSysAdmin}", "DropCaps: []Cap{Cap(3)}", "OwnProcess: true", "Exclusive: true", "Serial: true"} {
		if !strings.Contains(string(src), want) {
			t.Errorf("rendered catalog lacks %s:\n%s", want, src)
		}
	}
}

func TestCatalogIsThere(t *testing.T) {
	if len(All()) < 100 {
		t.Fatalf("catalog has %d cases: is cases.go generated?", len(All()))
	}
	c, ok := Lookup("set_tid/nested/max-depth-32-levels")
	if !ok || c.Group != "nested" || c.Setup.Depth() < 31 {
		t.Errorf("Lookup = %+v, %v", c, ok)
	}
	for _, c := range All() {
		if !slices.Contains(Groups, c.Group) {
			t.Errorf("%s: group %q is not in Groups", c.ID, c.Group)
		}
	}
}
