package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/vmtest/vmtest/configs"
	"github.com/vmtest/vmtest/host/build"
	"github.com/vmtest/vmtest/host/fetch"
	"github.com/vmtest/vmtest/host/run"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// fragmentInput resolves --config: an existing file, else a built-in
// fragment of configs/.
func fragmentInput(name string) (build.Input, error) {
	if fi, err := os.Stat(name); err == nil && fi.Mode().IsRegular() {
		return build.Input{Path: name}, nil
	}
	data, err := configs.Get(name)
	if err != nil {
		if strings.ContainsRune(name, os.PathSeparator) {
			return build.Input{}, fmt.Errorf("config fragment %s: no such file", name)
		}
		return build.Input{}, err
	}
	return build.Input{Path: "configs/" + strings.TrimSuffix(name, ".config") + ".config (built in)", Data: data}, nil
}

// buildKernel fills a spec's defaults (Debian's source tree, the minimal
// fragment) and builds it.
func buildKernel(ctx context.Context, sp build.Spec, cfgs []string, cache string, jobs int, progress func(string)) (*build.Manifest, error) {
	if cache == "" {
		cache = run.DefaultCacheDir()
	}
	if len(cfgs) == 0 {
		cfgs = []string{configs.Default}
	}
	for _, c := range cfgs {
		in, err := fragmentInput(c)
		if err != nil {
			return nil, &build.InputError{Err: err}
		}
		sp.Fragments = append(sp.Fragments, in)
	}
	if sp.Tree == "" {
		t, err := fetch.DebianSource(ctx, cache, progress)
		if err != nil {
			return nil, fmt.Errorf("obtain the default source tree: %w", err)
		}
		sp.Tree = t
	}
	return build.Build(ctx, sp, build.Options{CacheDir: cache, Jobs: jobs, Progress: progress})
}

func cmdBuild(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sp build.Spec
	var cfgs, patches listFlag
	fs.StringVar(&sp.Tree, "tree", "", "kernel source tree, only read (default: Debian's linux-source-6.1, downloaded once into the cache)")
	fs.StringVar(&sp.Base, "base", "", "base config: tinyconfig (default), defconfig, allnoconfig, or a .config file")
	fs.Var(&cfgs, "config", "config fragment merged onto the base: a file or a built-in name ("+strings.Join(configs.Names(), ", ")+"; default minimal); repeatable")
	fs.Var(&patches, "patch", "patch to apply to a scratch copy: git format-patch file, mbox or diff; repeatable, applied in order")
	cache := fs.String("cache", "", "cache directory (default ~/.cache/vmtest)")
	jobs := fs.Int("j", 0, "parallel make jobs (default: number of CPUs)")
	jsonOut := fs.Bool("json", false, "print the manifest as JSON")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vmtest build: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	sp.Patches = patches
	start := time.Now()
	m, err := buildKernel(ctx, sp, cfgs, *cache, *jobs, func(s string) { fmt.Fprintln(stderr, "build: "+s) })
	if err != nil {
		return buildErr(stderr, "vmtest build", err)
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

// buildErr maps a build error to an exit status: bad input is 2, a build
// that failed is 3 (infrastructure, like a VM that did not boot).
func buildErr(stderr io.Writer, who string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", who, err)
	var ie *build.InputError
	if errors.As(err, &ie) {
		return exitUsage
	}
	return exitInfra
}
