package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/vmtest/vmtest/configs"
	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/run"
)

func cmdBuild(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest build", flag.ContinueOnError)
	var sp kbuild.Spec
	var cfgs []string
	fs.StringVar(&sp.Tree, "tree", "", "kernel source tree, only read (default: Debian's linux-source-6.1, downloaded once into the cache)")
	fs.StringVar(&sp.Base, "base", "", "base config: tinyconfig (default), defconfig, allnoconfig, or a .config file")
	fs.Var(listFlag{&cfgs, false}, "config", "config fragment merged onto the base: a file or a built-in name ("+strings.Join(configs.Names(), ", ")+"; default minimal); repeatable")
	fs.Var(listFlag{&sp.Patches, false}, "patch", "patch to apply to a scratch copy: git format-patch file, mbox or diff; repeatable, applied in order")
	cache := fs.String("cache", "", "cache directory (default ~/.cache/vmtest)")
	jobs := 0
	fs.Var(countFlag{&jobs, 1}, "j", "`N` parallel make jobs (default: number of CPUs)")
	jsonOut := fs.Bool("json", false, "print the manifest as JSON")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if err := run.CheckCache(*cache); err != nil {
		return reportErr(stderr, "vmtest build", err)
	}
	// Patches and fragments are read and checked before the default tree
	// is downloaded or unpacked.
	ref, err := run.BuildRef(sp, cfgs)
	if err != nil {
		return reportErr(stderr, "vmtest build", err)
	}
	start := time.Now()
	_, m, err := ref.Obtain(ctx, run.ObtainOptions{CacheDir: *cache, Jobs: jobs, Progress: func(s string) { fmt.Fprintln(stderr, "build: "+s) }})
	if err != nil {
		return obtainErr(ctx, stderr, "vmtest build", err)
	}
	if *jsonOut {
		printJSON(stdout, m)
	} else {
		state := "built"
		if m.Cached {
			state = "cached"
		}
		fmt.Fprintf(stdout, "%s\n", m.BzImage)
		fmt.Fprintf(stderr, "build: %s %s in %.1fs (key %s, %d patch(es)); manifest beside it\n", state, m.Source.Version, time.Since(start).Seconds(), m.Key, len(m.Patches))
	}
	return exitOK
}
