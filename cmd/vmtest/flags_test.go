package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		ok   bool
		want string // stderr, one line
	}{
		{nil, 0, true, ""},
		{[]string{"--timeout", "90s", "-j", "4", "--confirm", "0"}, 0, true, ""},
		{[]string{"--timeout", "0"}, exitUsage, false, `vmtest t: --timeout "0": must be positive`},
		{[]string{"--timeout", "-1s"}, exitUsage, false, `vmtest t: --timeout "-1s": must be positive`},
		{[]string{"--timeout", "soon"}, exitUsage, false, `vmtest t: --timeout "soon": not a duration (want e.g. 90s or 2m)`},
		{[]string{"-j", "0"}, exitUsage, false, `vmtest t: -j "0": must be at least 1`},
		{[]string{"--confirm", "-1"}, exitUsage, false, `vmtest t: --confirm "-1": must be at least 0`},
		{[]string{"--confirm", "1.5"}, exitUsage, false, `vmtest t: --confirm "1.5": not a whole number`},
		{[]string{"--name"}, exitUsage, false, "vmtest t: --name: needs a value"},
		{[]string{"--colour", "red"}, exitUsage, false, "vmtest t: --colour: no such flag"},
		{[]string{"-x"}, exitUsage, false, "vmtest t: -x: no such flag"},
		{[]string{"--v=maybe"}, exitUsage, false, `vmtest t: -v "maybe": not a valid value`},
		{[]string{"stray"}, exitUsage, false, `vmtest t: unexpected argument "stray"`},
		{[]string{"-h"}, exitOK, false, "usage of vmtest t:"},
	} {
		fs := flag.NewFlagSet("vmtest t", flag.ContinueOnError)
		var d time.Duration
		j, c := 0, 1
		fs.Var(durationFlag{&d}, "timeout", "")
		fs.Var(countFlag{&j, 1}, "j", "")
		fs.Var(countFlag{&c, 0}, "confirm", "")
		fs.String("name", "", "")
		fs.Bool("v", false, "")
		var stderr bytes.Buffer
		code, ok := parseFlags(fs, tc.args, &stderr)
		if code != tc.code || ok != tc.ok || !strings.HasPrefix(stderr.String(), tc.want) {
			t.Errorf("%q: code %d ok %v stderr %q; want %d %v %q", tc.args, code, ok, stderr.String(), tc.code, tc.ok, tc.want)
		}
		if tc.code == exitUsage && strings.Count(stderr.String(), "\n") != 1 {
			t.Errorf("%q: want one line, got %q", tc.args, stderr.String())
		}
	}
}

func TestListFlag(t *testing.T) {
	for _, tc := range []struct {
		comma bool
		sets  []string
		want  []string
	}{
		{true, []string{"a/*", "b/*,c/*", " d , ,e "}, []string{"a/*", "b/*", "c/*", "d", "e"}},
		{true, []string{""}, nil},
		// Paths are taken whole: a comma is part of the name.
		{false, []string{"x.patch", "dir,with,commas/y.patch"}, []string{"x.patch", "dir,with,commas/y.patch"}},
	} {
		var got []string
		f := listFlag{&got, tc.comma}
		for _, s := range tc.sets {
			if err := f.Set(s); err != nil {
				t.Fatal(err)
			}
		}
		if strings.Join(got, "|") != strings.Join(tc.want, "|") || f.String() != strings.Join(tc.want, ",") {
			t.Errorf("comma %v, set %q: %q (String %q), want %q", tc.comma, tc.sets, got, f.String(), tc.want)
		}
	}
}

func TestRunFlagsOptions(t *testing.T) {
	fs := flag.NewFlagSet("vmtest t", flag.ContinueOnError)
	rf := addRunFlags(fs)
	var stderr bytes.Buffer
	if _, ok := parseFlags(fs, []string{"--case", "a/*,b/*", "--append", "x=1", "--runner", "exec", "-j", "3", "--timeout", "2m"}, &stderr); !ok {
		t.Fatal(stderr.String())
	}
	o := rf.options()
	if strings.Join(o.Cases, " ") != "a/* b/*" || strings.Join(o.Append, " ") != "x=1 vmtest.runner=exec" || rf.jobs != 3 || o.Timeouts.Run != 2*time.Minute || o.Agent != agentBinary {
		t.Errorf("options %+v, jobs %d", o, rf.jobs)
	}
	// The default runner adds no parameter.
	fs = flag.NewFlagSet("vmtest t", flag.ContinueOnError)
	if o := addRunFlags(fs).options(); len(o.Append) != 0 || o.Accel != "auto" {
		t.Errorf("defaults: append %v, accel %q", o.Append, o.Accel)
	}
}
