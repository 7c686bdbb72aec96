package kbuild

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ScratchTree is a private, built copy of a spec's patched source tree
// for a caller that edits sources and rebuilds (vmtest mutate): neither
// the user's tree nor the cache sees its edits.
type ScratchTree struct {
	// Src is the source tree (hard links to the cache's scratch tree,
	// which is itself hard-linked to the user's tree: a caller must
	// replace a file, never write into it); Obj is its object tree
	// (Src/.vmtest-obj), which make is given as O=.
	Src, Obj string
	// Manifest is the spec's build in the cache.
	Manifest *Manifest
	// Seeded names the work directory the objects were copied from ("" when
	// the copy was reused or built from nothing).
	Seeded string
}

// scratchStamp marks a finished scratch copy; it holds the build key, so
// that a directory reused for another spec is made again.
const scratchStamp = ".vmtest-scratch"

// Scratch builds s if the cache does not hold it yet and returns a copy of
// its patched source tree in dir, with an object tree in which `make
// bzImage` has nothing left to do. The objects are seeded as Build seeds
// a new work directory (the newest complete object tree of the same
// source tree, its paths rebased onto the copy), so the copy costs an
// incremental build, not a full one. A dir holding a finished copy of the
// same build is reused as it is.
func Scratch(ctx context.Context, s Spec, o Options, dir string) (*ScratchTree, error) {
	m, err := Build(ctx, s, o)
	if err != nil {
		return nil, err
	}
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	if o.Jobs <= 0 {
		o.Jobs = 1
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 10 * time.Second
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, err
	}
	st := &ScratchTree{Src: filepath.Join(dir, "src"), Manifest: m}
	st.Obj = objDir(st.Src)
	if b, err := os.ReadFile(filepath.Join(dir, scratchStamp)); err == nil && strings.TrimSpace(string(b)) == m.Key {
		return st, nil
	}
	in, err := load(ctx, s)
	if err != nil {
		return nil, err
	}
	config, err := os.ReadFile(filepath.Join(filepath.Dir(m.BzImage), "config"))
	if err != nil {
		return nil, fmt.Errorf("read the config of build %s: %w", m.Key, err)
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "build.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	if err := copySource(ctx, o.CacheDir, in, st.Src, logf, o.Progress); err != nil {
		return nil, err
	}
	// Our patched files are hard links to the work directory's copies:
	// make them our own before anything touches them.
	ours := in.patchedFiles()
	for _, f := range ours {
		if err := breakLink(filepath.Join(st.Src, f)); err != nil {
			return nil, &Error{Step: "prepare " + f + " in the scratch copy", Err: err}
		}
	}
	if st.Seeded, err = seed(ctx, filepath.Join(o.CacheDir, "build"), dir, in, logf); err != nil {
		return nil, err
	}
	if st.Seeded != "" {
		o.Progress("scratch copy: starting from the objects of " + filepath.Base(st.Seeded))
	}
	if err := touchNewer(st.Src, ours, ours); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(st.Obj, 0o755); err != nil {
		return nil, err
	}
	// The seed may have been configured otherwise: the build's own config,
	// then olddefconfig, and kbuild rebuilds what the difference reaches.
	cfgPath := filepath.Join(st.Obj, ".config")
	if old, err := os.ReadFile(cfgPath); err != nil || sha(old) != sha(config) {
		if err := os.WriteFile(cfgPath, config, 0o644); err != nil {
			return nil, err
		}
		if err := runLogged(ctx, st.Src, logf, "make", "O="+st.Obj, "olddefconfig"); err != nil {
			return nil, &Error{Step: "make olddefconfig in the scratch copy", Err: err, Log: logPath, First: firstBuildError(logPath)}
		}
	}
	o.Progress(fmt.Sprintf("building the scratch copy's bzImage with %d jobs (log: %s)", o.Jobs, logPath))
	if err := makeKernel(ctx, st.Src, st.Obj, o, logf, logPath, "bzImage"); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, scratchStamp), []byte(m.Key+"\n"), 0o644); err != nil {
		return nil, err
	}
	return st, nil
}

// copySource hard-links the cache's patched scratch tree for in into src,
// its object tree left out (it is seeded apart, as real copies). The work
// directory is locked meanwhile, so that no build changes it under the
// copy.
func copySource(ctx context.Context, cacheDir string, in *inputs, src string, log *os.File, progress func(string)) error {
	work := filepath.Join(cacheDir, "build", "tree-"+in.sourceKey())
	lock, err := lockDir(ctx, work+".lock")
	if err != nil {
		return err
	}
	defer lock.Close()
	workSrc := filepath.Join(work, "src")
	// A cache may hold the build (kernel-KEY) without its work directory
	// (a CI cache restored from the kernels alone, a test's seeded cache).
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	if err := prepareSource(ctx, in, workSrc, log, progress); err != nil {
		return err
	}
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	ents, err := os.ReadDir(workSrc)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if e.Name() == filepath.Base(objDir("")) || strings.HasSuffix(e.Name(), ".partial") {
			continue
		}
		from, to := filepath.Join(workSrc, e.Name()), filepath.Join(src, e.Name())
		if err := runLogged(ctx, "", log, "cp", "-al", from, to); err != nil {
			os.RemoveAll(to)
			if err := runLogged(ctx, "", log, "cp", "-a", from, to); err != nil {
				return &Error{Step: "copy " + workSrc + " to a scratch tree", Err: err}
			}
		}
	}
	if _, err := os.Stat(filepath.Join(src, ".vmtest-ready")); errors.Is(err, os.ErrNotExist) {
		return &Error{Step: "copy " + workSrc, Err: fmt.Errorf("the copy has no .vmtest-ready")}
	}
	return nil
}
