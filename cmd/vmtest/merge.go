package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/vmtest/vmtest/host/merge"
	"github.com/vmtest/vmtest/host/report"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// cmdMerge joins shard result directories into one, with every format.
func cmdMerge(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest merge", flag.ContinueOnError)
	out := fs.String("out", "", "merged result directory (required); an existing one must be an earlier vmtest result, replaced only with --force")
	force := fs.Bool("force", false, "replace the earlier vmtest result --out names")
	origin := fs.String("kcidb-origin", "", "KCIDB origin of kcidb.json's IDs (default vmtest)")
	jsonOut := fs.Bool("json", false, "print the merged result.json instead of the table")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: vmtest merge --out DIR SHARD-DIR...\n\nJoins the result directories of `vmtest run --shard K/N`, one per K, into the result of one whole run.")
		fs.PrintDefaults()
	}
	// `vmtest merge DIR... --out DIR`: the directories may come before,
	// between or after the flags, so parse the flags in the gaps.
	var dirs, flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			dirs = append(dirs, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			if f := fs.Lookup(strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")); f != nil && !strings.Contains(a, "=") && !isBoolFlag(f) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			dirs = append(dirs, a)
		}
	}
	if code, ok := parseFlags(fs, flags, stderr); !ok {
		return code
	}
	rf := &runFlags{kcidbOrigin: *origin}
	if err := rf.checkReports(); err != nil {
		return reportErr(stderr, "vmtest merge", err)
	}
	if len(dirs) == 0 {
		return reportErr(stderr, "vmtest merge", inputerr.New("results", "", errors.New("none given: vmtest merge --out DIR SHARD-DIR")))
	}
	res, err := merge.Dirs(dirs, *out, *force, rf.reporter(nil))
	if err != nil {
		return reportErr(stderr, "vmtest merge", err)
	}
	if *jsonOut {
		printJSON(stdout, res)
	} else {
		report.Cases(stdout, res.Cases)
		report.Summary(stdout, res.Cases)
	}
	fmt.Fprintf(stderr, "merged %d shards: %s\n", len(res.Merged), res.QEMU.Dir)
	return exitStatus(ctx, res)
}

// isBoolFlag reports whether f takes no value (-force, -json).
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
