package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vmtest/vmtest/internal/contract"
)

// listFlag collects a repeatable flag into a list. With comma set, each
// value is also split at commas (case patterns and kernel parameters, as
// --case a,b); without, a value is taken whole (file paths, which may
// hold commas).
type listFlag struct {
	list  *[]string
	comma bool
}

func (l listFlag) String() string {
	if l.list == nil {
		return ""
	}
	return strings.Join(*l.list, ",")
}

func (l listFlag) Set(v string) error {
	if !l.comma {
		*l.list = append(*l.list, v)
		return nil
	}
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.list = append(*l.list, p)
		}
	}
	return nil
}

// runnerFlag is --runner: one of contract.Runners.
type runnerFlag struct{ r *contract.Runner }

func (f runnerFlag) String() string {
	if f.r == nil {
		return ""
	}
	return string(*f.r)
}

func (f runnerFlag) Set(s string) error {
	r, err := contract.ParseRunner(s)
	if err != nil {
		names := make([]string, len(contract.Runners))
		for i, r := range contract.Runners {
			names[i] = string(r)
		}
		return fmt.Errorf("want %s", strings.Join(names, " or "))
	}
	*f.r = r
	return nil
}

// durationFlag is a timeout: it must be positive when given. A zero or
// negative one means nothing sensible, and the guest agent, which cannot
// parse a negative one, would drop every parameter after it.
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("not a duration (want e.g. 90s or 2m)")
	}
	if d <= 0 {
		return errors.New("must be positive")
	}
	*f.d = d
	return nil
}

// countFlag is a count with a lower bound: -j 0 or --repeat 0 would
// silently mean something else.
type countFlag struct {
	n   *int
	min int
}

func (f countFlag) String() string {
	if f.n == nil || *f.n == 0 {
		return "" // -j's zero means "as many as CPUs", which its help says
	}
	return strconv.Itoa(*f.n)
}

func (f countFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("not a whole number")
	}
	if n < f.min {
		return fmt.Errorf("must be at least %d", f.min)
	}
	*f.n = n
	return nil
}

var (
	flagValueErr = regexp.MustCompile(`^invalid (?:boolean )?value "(.*)" for (?:flag )?-(\S+): (.*)$`)
	flagUndefErr = regexp.MustCompile(`^flag provided but not defined: -+(\S+)$`)
	flagArgErr   = regexp.MustCompile(`^flag needs an argument: -+(\S+)$`)
)

// flagMessage turns the flag package's errors into the one-line form every
// other usage error has: the flag, the value, what is wrong.
func flagMessage(err error) string {
	s := err.Error()
	if m := flagValueErr.FindStringSubmatch(s); m != nil {
		why := m[3]
		if why == "parse error" {
			why = "not a valid value"
		}
		return fmt.Sprintf("%s %q: %s", dashes(m[2]), m[1], why)
	}
	if m := flagUndefErr.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("%s: no such flag", dashes(m[1]))
	}
	if m := flagArgErr.FindStringSubmatch(s); m != nil {
		return fmt.Sprintf("%s: needs a value", dashes(m[1]))
	}
	return s
}

// dashes writes a flag as the help text does: -j, --case-timeout.
func dashes(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// parseFlags parses a command's flags. A bad flag or value is one line on
// stderr and exit 2; -h prints the flags and exits 0. ok is false when the
// command must return code at once.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, ok bool) {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	switch {
	case err == nil && fs.NArg() > 0:
		fmt.Fprintf(stderr, "%s: unexpected argument %q (every input is given with a flag; -h lists them)\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	case err == nil:
		return 0, true
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stderr)
		fmt.Fprintf(stderr, "usage of %s:\n", fs.Name())
		fs.PrintDefaults()
		return exitOK, false
	}
	fmt.Fprintf(stderr, "%s: %s\n", fs.Name(), flagMessage(err))
	return exitUsage, false
}
