package kbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/internal/atomicfile"
)

// Incremental builds across patch sets.
//
// Every (tree, patches) pair has a work directory of its own, a scratch copy
// of the tree hard-linked to the original, with the object tree inside it
// (objDir). A new work directory does not start from nothing: its object
// tree is seeded with a copy of the most recent complete one built from the
// same tree, and make then rebuilds only what differs. That is sound
// because make decides by modification time and every difference between
// the two copies is a file younger than the seed's objects:
//   - the files this build's patches touch were copied and patched just
//     now;
//   - the files the seed's patches touched hold the original content here
//     with an old time, so they are touched (touchNewer) before make runs;
//   - a git tree checked out at another commit (git bisect) has every file
//     that changed rewritten by the checkout, after the seed was built.
// Kbuild's own records (.cmd files, include/config) take care of a changed
// configuration. The object tree sits inside the scratch tree so that kbuild
// refers to sources by relative paths (srctree is ".."): the commands it
// records, which it compares to decide what to rebuild, are then the same
// in every copy, and the seed's dependency lists name this copy's files.

// SeedLinkPrefix names links in a build cache to work directories of
// another cache (seed-NAME → .../build/tree-KEY): seeds for this cache's
// builds, only ever read and locked, never built in. A cache that starts
// empty but can reach a filled one (the end-to-end tests' temporary
// caches, a CI job beside a restored cache) then builds incrementally
// instead of from nothing.
const SeedLinkPrefix = "seed-"

// objDir is the object tree of a work directory's scratch tree src.
func objDir(src string) string { return filepath.Join(src, ".vmtest-obj") }

// seedFile records what a work directory was built from, for later seeds.
const seedFile = "seed.json"

// seedInfo is seedFile: the tree the work directory copies and the files
// its patches changed.
type seedInfo struct {
	Tree    string    `json:"tree"`
	Patched []string  `json:"patched"`
	Built   time.Time `json:"built"`
}

// patchedFiles lists the files the inputs' patches touch, sorted.
func (in *inputs) patchedFiles() []string {
	var fs []string
	for _, p := range in.patches {
		fs = append(fs, p.Files...)
	}
	slices.Sort(fs)
	return slices.Compact(fs)
}

// recordSeed notes, after a successful build in work, that its object tree
// may seed others.
func recordSeed(work string, in *inputs) error {
	b, _ := json.Marshal(seedInfo{Tree: in.tree, Patched: in.patchedFiles(), Built: time.Now()})
	return atomicfile.WriteFile(filepath.Join(work, seedFile), b, 0o644)
}

// seed fills the empty object tree of work from the newest complete object
// tree of a sibling work directory under root built from the same tree, and
// touches the files that sibling's patches changed. It reports what it
// seeded from ("" for nothing). A sibling whose lock another build holds is
// passed over, never waited for: it may be mid-build, and two builds
// seeding from each other must not deadlock.
func seed(ctx context.Context, root, work string, in *inputs, log io.Writer) (string, error) {
	obj := objDir(filepath.Join(work, "src"))
	if ents, err := os.ReadDir(obj); err == nil && len(ents) > 0 {
		return "", nil // already has objects: an interrupted or earlier build
	}
	type cand struct {
		dir  string
		info seedInfo
	}
	var cands []cand
	dirs, _ := filepath.Glob(filepath.Join(root, "tree-*"))
	links, _ := filepath.Glob(filepath.Join(root, SeedLinkPrefix+"*"))
	for _, l := range links {
		if d, err := filepath.EvalSymlinks(l); err == nil {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		if d == work {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, seedFile))
		if err != nil {
			continue
		}
		var si seedInfo
		if json.Unmarshal(b, &si) != nil || !sameTree(si.Tree, in.tree) {
			continue
		}
		cands = append(cands, cand{d, si})
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].info.Built.After(cands[j].info.Built) })
	for _, c := range cands {
		lock, err := tryLock(c.dir + ".lock")
		if err != nil {
			continue
		}
		err = copySeed(ctx, objDir(filepath.Join(c.dir, "src")), obj, log)
		if err == nil {
			err = rebase(obj, filepath.Join(c.dir, "src"), filepath.Join(work, "src"))
		}
		lock.Close()
		if err != nil {
			os.RemoveAll(obj)
			fmt.Fprintf(log, "vmtest: seeding from %s failed, building from scratch: %v\n", c.dir, err)
			continue
		}
		// What the seed's patches changed holds the original here again:
		// make must not keep the seed's objects of it. (Build makes this
		// build's own patched files newest in any case.)
		if err := touchNewer(filepath.Join(work, "src"), c.info.Patched, in.patchedFiles()); err != nil {
			os.RemoveAll(obj)
			return "", err
		}
		return c.dir, nil
	}
	return "", nil
}

// sameTree reports whether two tree paths name one directory: equal, or
// equal once symbolic links are resolved. A cache reaching the source
// through a link (the end-to-end tests' caches link to the shared one; a
// CI cache may be restored under another path) must still find its seeds,
// or every build there starts from nothing.
func sameTree(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// copySeed copies the object tree from into the absent to, whole: into a
// temporary directory first, renamed at the end.
func copySeed(ctx context.Context, from, to string, log io.Writer) error {
	if _, err := os.Stat(filepath.Join(from, "vmlinux")); err != nil {
		return fmt.Errorf("no complete object tree in %s", from)
	}
	tmp := to + ".partial"
	os.RemoveAll(tmp)
	// --reflink=auto shares blocks where the filesystem can; never hard
	// links: the compiler rewrites objects in place, which would change
	// the seed's too.
	if err := runLogged(ctx, "", log, "cp", "-a", "--reflink=auto", from, tmp); err != nil {
		os.RemoveAll(tmp)
		return err
	}
	os.RemoveAll(to)
	return os.Rename(tmp, to)
}

// rebase rewrites the seed's scratch-tree path to ours in the object
// tree's text files that record it, keeping their times. Kbuild itself
// records relative paths, but the tools it builds first (objtool, whose
// binary every object depends on) record absolute ones: left alone, their
// commands would differ from the last build's, objtool would be rebuilt,
// and with it every object of the kernel.
func rebase(obj, from, to string) error {
	old, new := []byte(from+"/"), []byte(to+"/")
	return filepath.WalkDir(obj, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil || info.Size() > 1<<20 {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, old) || bytes.IndexByte(b, 0) >= 0 {
			return err // not a text file naming the seed's tree
		}
		if err := os.WriteFile(p, bytes.ReplaceAll(b, old, new), info.Mode().Perm()); err != nil {
			return err
		}
		return os.Chtimes(p, info.ModTime(), info.ModTime())
	})
}

// touchNewer gives each of files (relative to the scratch tree src) the
// current time, so that make recompiles it whatever objects the tree
// holds. A file that is not one of ours (this build's patched files, which
// are copies already) first gets a copy of its own: it is a hard link to
// the user's tree, whose time must not change.
func touchNewer(src string, files, ours []string) error {
	now := time.Now()
	for _, f := range files {
		p := filepath.Join(src, f)
		if !slices.Contains(ours, f) {
			if err := breakLink(p); err != nil {
				return &Error{Step: "prepare " + f + " for an incremental build", Err: err}
			}
		}
		if err := os.Chtimes(p, now, now); err != nil && !errors.Is(err, os.ErrNotExist) {
			return &Error{Step: "prepare " + f + " for an incremental build", Err: err}
		}
	}
	return nil
}

// tryLock takes the build lock at path if nobody holds it.
func tryLock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
