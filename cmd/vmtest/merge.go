package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/host/merge"
	"github.com/vmtest/vmtest/host/report"
	"github.com/vmtest/vmtest/internal/inputerr"
)

// cmdMerge joins shard result directories into one, with every format:
// those of vmtest run --shard K/N, or those of vmtest mutate --shard K/N.
func cmdMerge(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest merge", flag.ContinueOnError)
	out := fs.String("out", "", "merged result directory (required); an existing one must be an earlier vmtest result, replaced only with --force")
	force := fs.Bool("force", false, "replace the earlier vmtest result --out names")
	origin := fs.String("kcidb-origin", "", "KCIDB origin of kcidb.json's IDs (default vmtest)")
	jsonOut := fs.Bool("json", false, "print the merged result.json (mutate.json) instead of the table (score)")
	minScore := fs.String("min-score", "", "mutation results only: exit 1 when the merged score (killed / killed+survived, 0..1) is below `X`, as vmtest mutate --min-score")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: vmtest merge --out DIR SHARD-DIR...\n\nJoins the result directories of `vmtest run --shard K/N`, one per K, into the result of one whole run;\nor those of `vmtest mutate --shard K/N` into the mutation result of one whole run (mutate.json, mutate.md, report.html).")
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
	if len(dirs) == 0 {
		return reportErr(stderr, "vmtest merge", inputerr.New("results", "", errors.New("none given: vmtest merge --out DIR SHARD-DIR")))
	}
	kind, err := merge.KindOf(dirs)
	if err != nil {
		return reportErr(stderr, "vmtest merge", err)
	}
	if kind == merge.MutationKind {
		if *origin != "" {
			fmt.Fprintf(stderr, "vmtest merge: --kcidb-origin %s: mutation results have no kcidb.json\n", *origin)
			return exitUsage
		}
		return mergeMutations(dirs, *out, *force, *jsonOut, *minScore, stdout, stderr)
	}
	if *minScore != "" {
		fmt.Fprintf(stderr, "vmtest merge: --min-score %s: is for mutation results (vmtest mutate --shard K/N); these are a run's\n", *minScore)
		return exitUsage
	}
	rf := &runFlags{kcidbOrigin: *origin}
	if err := rf.checkReports(); err != nil {
		return reportErr(stderr, "vmtest merge", err)
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

// mergeMutations is vmtest merge of mutation results: the merged score
// on stdout (or mutate.json with --json), exit 1 below --min-score.
func mergeMutations(dirs []string, out string, force, jsonOut bool, minScore string, stdout, stderr io.Writer) int {
	min := -1.0
	if minScore != "" {
		v, err := strconv.ParseFloat(minScore, 64)
		if err != nil || v < 0 || v > 1 {
			fmt.Fprintf(stderr, "vmtest merge: --min-score %s: want a number from 0 to 1\n", minScore)
			return exitUsage
		}
		min = v
	}
	rep, err := merge.MutationDirs(dirs, out, force)
	if err != nil {
		return reportErr(stderr, "vmtest merge", err)
	}
	c := rep.Counts
	if jsonOut {
		printJSON(stdout, rep)
	} else {
		fmt.Fprintf(stdout, "score %.3f: %d killed, %d survived (%d explained), %d stillborn, %d equivalent, %d duplicate, %d error\n", rep.Score, c.Killed, c.Survived, c.Explained, c.Stillborn, c.Equivalent, c.Duplicate, c.Error)
	}
	fmt.Fprintf(stderr, "merged %d mutation shards: %s/mutate.md\n", len(dirs), out)
	if min >= 0 && rep.Below(min) {
		fmt.Fprintf(stderr, "vmtest merge: score %.3f is below --min-score %g\n", rep.Score, min)
		return exitFailed
	}
	return exitOK
}

// isBoolFlag reports whether f takes no value (-force, -json).
func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
