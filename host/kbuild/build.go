// Package kbuild turns a kernel source tree, a config fragment and an
// optional patch series into a bzImage, on a scratch copy of the tree
// (never the user's own), cached by everything that determines the result.
package kbuild

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vmtest/vmtest/host/fetch"
	"github.com/vmtest/vmtest/internal/inputerr"
	"github.com/vmtest/vmtest/internal/proc"
)

// recipe changes whenever the way a kernel is built changes, so that old
// cache entries are not reused for a different recipe.
const recipe = "vmtest-build-1"

// DefaultBase is the config the fragments are merged onto.
const DefaultBase = "tinyconfig"

// namedBases are the make targets accepted as a base config; anything else
// is taken as the path of a full .config.
var namedBases = map[string]bool{"tinyconfig": true, "allnoconfig": true, "defconfig": true, "x86_64_defconfig": true}

// Spec says what to build.
type Spec struct {
	// Tree is the kernel source tree. It is only read.
	Tree string
	// Base is a config target (tinyconfig, defconfig...) or a .config path.
	Base string
	// Fragments are merged onto Base in order.
	Fragments []Input
	// Patches are git format-patch files, mboxes or diffs, applied in order.
	Patches []string
}

// Input is a file given by path, or held in memory (Data non-nil) under
// a descriptive name, as the built-in config fragments are.
type Input struct {
	Path string
	Data []byte
}

// Options are how to build: where the cache is, parallelism, progress.
type Options struct {
	CacheDir string
	Jobs     int
	// Progress receives one line per step and a periodic build status.
	Progress func(string)
	// ProgressEvery is the build status period (default 10 s).
	ProgressEvery time.Duration
}

// FileHash names an input file by path and content hash.
type FileHash struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// PatchInfo is one applied patch in the manifest.
type PatchInfo struct {
	FileHash
	Index   int    `json:"index"`
	Subject string `json:"subject"`
}

// Manifest describes one built kernel; it is manifest.json beside it.
type Manifest struct {
	Key    string `json:"key"`
	Source struct {
		Path     string `json:"path"`
		Identity string `json:"identity"`
		Version  string `json:"version"`
	} `json:"source"`
	Base          string      `json:"base_config"`
	Fragments     []FileHash  `json:"config_fragments"`
	ConfigSHA256  string      `json:"config_sha256"`
	Patches       []PatchInfo `json:"patches"`
	Toolchain     string      `json:"toolchain"`
	BzImage       string      `json:"bzimage"`
	BzImageSHA256 string      `json:"bzimage_sha256"`
	// Vmlinux is the uncompressed kernel built with the bzImage, kept so
	// that runs boot it through PVH without decompressing anything
	// (host/vmlinux looks for it by these two fields) and so that gdb
	// has its symbols. Entries from before it was kept have none.
	Vmlinux      string    `json:"vmlinux,omitempty"`
	Log          string    `json:"log"`
	BuiltAt      time.Time `json:"built_at"`
	BuildSeconds float64   `json:"build_seconds"`
	// Cached is true when this call found the kernel already built.
	Cached bool `json:"-"`
}

// Error is a failed build step. Its message is one line; the first error
// line and the log to read are fields, for the caller to show.
//
// A problem with the spec itself (missing tree, unreadable fragment, patch
// without a diff), found before anything was built, is not an *Error but
// an *inputerr.Error, which matches inputerr.ErrBadInput.
type Error struct {
	Step string
	// First is the build log's first error line ("" when none was found).
	First string
	// Log is the path of the full build log ("" when there is none).
	Log string
	Err error
}

// Error gives the step and the cause.
func (e *Error) Error() string { return fmt.Sprintf("%s failed: %v", e.Step, e.Err) }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// inputs is a Spec read and hashed.
type inputs struct {
	spec      Spec
	tree      string
	identity  string
	version   string
	baseData  []byte // for a .config base
	frags     []Fragment
	fragHash  []FileHash
	patches   []Patch
	patchInfo []PatchInfo
	toolchain string
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// load validates a spec and reads everything the cache key depends on.
func load(ctx context.Context, s Spec) (*inputs, error) {
	if s.Tree == "" {
		return nil, inputerr.Errorf("tree", "", "no kernel source tree given")
	}
	in, err := readInputs(s)
	if err != nil {
		return nil, err
	}
	if in.identity, err = treeIdentity(ctx, in.tree); err != nil {
		return nil, fmt.Errorf("identify source tree %s: %w", in.tree, err)
	}
	in.toolchain = toolchain(ctx)
	return in, nil
}

// CheckInputs reads and validates everything a spec names except what
// needs the tree's contents: the tree itself when given (a few stats), the
// base config, every fragment and every patch. Callers run it before they
// download or unpack a default tree, so that a typo costs nothing. Its
// errors match inputerr.ErrBadInput.
func CheckInputs(s Spec) error {
	_, err := readInputs(s)
	return err
}

// readInputs is load without the slow parts (the tree's identity, the
// toolchain); an empty Tree is left for the caller's default.
func readInputs(s Spec) (*inputs, error) {
	in := &inputs{spec: s}
	var err error
	if s.Tree != "" {
		tree, err := filepath.Abs(s.Tree)
		if err != nil {
			return nil, inputerr.New("tree", s.Tree, err)
		}
		in.tree = tree
		if fi, err := os.Stat(filepath.Join(tree, "Makefile")); err != nil || !fi.Mode().IsRegular() {
			return nil, inputerr.Errorf("tree", tree, "is not a kernel source tree (no top-level Makefile)")
		}
		if _, err := os.Stat(filepath.Join(tree, "kernel", "fork.c")); err != nil {
			return nil, inputerr.Errorf("tree", tree, "is not a kernel source tree (no kernel/fork.c)")
		}
		if in.version, err = treeVersion(tree); err != nil {
			return nil, inputerr.New("tree", tree, err)
		}
	}
	if s.Base == "" {
		s.Base = DefaultBase
		in.spec.Base = DefaultBase
	}
	if !namedBases[s.Base] {
		if in.baseData, err = os.ReadFile(s.Base); err != nil {
			return nil, inputerr.Errorf("base", s.Base, "is neither %s nor a readable .config: %w", strings.Join(sortedKeys(namedBases), ", "), unwrapPath(err))
		}
	}
	for _, fr := range s.Fragments {
		data := fr.Data
		if data == nil {
			if data, err = os.ReadFile(fr.Path); err != nil {
				return nil, inputerr.New("config", fr.Path, unwrapPath(err))
			}
		}
		f, err := ParseFragment(fr.Path, data)
		if err != nil {
			return nil, inputerr.Wrap(err)
		}
		in.frags = append(in.frags, f)
		in.fragHash = append(in.fragHash, FileHash{Path: fr.Path, SHA256: sha(data)})
	}
	if in.patches, err = ReadPatches(s.Patches); err != nil {
		return nil, inputerr.Wrap(err)
	}
	for _, p := range in.patches {
		in.patchInfo = append(in.patchInfo, PatchInfo{FileHash: FileHash{Path: p.Source, SHA256: sha(p.Data)}, Index: p.Index, Subject: p.Subject})
	}
	return in, nil
}

func sortedKeys(m map[string]bool) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

// sourceKey identifies the patched source: tree plus patches.
func (in *inputs) sourceKey() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\ntree %s\n", recipe, in.identity)
	for _, p := range in.patchInfo {
		fmt.Fprintf(h, "patch %s\n", p.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// Key identifies the whole build: source, patches, config, toolchain.
// Paths are left out on purpose: the same fragment moved elsewhere builds
// the same kernel.
func (in *inputs) key() string {
	h := sha256.New()
	base := in.spec.Base // a make target
	if in.baseData != nil {
		base = "file " + sha(in.baseData) // a .config: its content, not its path
	}
	fmt.Fprintf(h, "%s\nsource %s\nbase %s\ntoolchain %s\n", recipe, in.sourceKey(), base, in.toolchain)
	for _, f := range in.fragHash {
		fmt.Fprintf(h, "fragment %s\n", f.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

var makeVar = regexp.MustCompile(`(?m)^(VERSION|PATCHLEVEL|SUBLEVEL|EXTRAVERSION) = ?(.*)$`)

// treeVersion reads the kernel version from the top-level Makefile
// without running make.
func treeVersion(tree string) (string, error) {
	data, err := os.ReadFile(filepath.Join(tree, "Makefile"))
	if err != nil {
		return "", err
	}
	v := map[string]string{}
	for _, m := range makeVar.FindAllStringSubmatch(string(data[:min(len(data), 4096)]), -1) {
		v[m[1]] = strings.TrimSpace(m[2])
	}
	if v["VERSION"] == "" || v["PATCHLEVEL"] == "" {
		return "", fmt.Errorf("%s/Makefile has no VERSION/PATCHLEVEL: not a kernel tree", tree)
	}
	s := v["VERSION"] + "." + v["PATCHLEVEL"]
	if v["SUBLEVEL"] != "" {
		s += "." + v["SUBLEVEL"]
	}
	return s + v["EXTRAVERSION"], nil
}

// treeIdentity names the tree's contents cheaply and honestly: a tree
// unpacked by the toolkit carries a stamp; a git tree is its HEAD plus a
// hash of its uncommitted changes; any other tree is a hash of every
// file's path, size and modification time.
func treeIdentity(ctx context.Context, tree string) (string, error) {
	if b, err := os.ReadFile(filepath.Join(tree, fetch.SourceStamp)); err == nil {
		return "stamp " + strings.TrimSpace(string(b)), nil
	}
	if _, err := os.Stat(filepath.Join(tree, ".git")); err == nil {
		head, err := output(ctx, tree, "git", "rev-parse", "HEAD")
		if err != nil {
			return "", err
		}
		// Untracked files matter too: a new source file changes the build.
		status, err := output(ctx, tree, "git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=normal")
		if err != nil {
			return "", err
		}
		diff, err := output(ctx, tree, "git", "diff", "HEAD")
		if err != nil {
			return "", err
		}
		// Status names untracked files and git diff leaves them out: an
		// edit to one shows only in its size and modification time.
		others, err := output(ctx, tree, "git", "ls-files", "-z", "--others", "--exclude-standard")
		if err != nil {
			return "", err
		}
		for _, f := range strings.Split(others, "\x00") {
			if fi, err := os.Lstat(filepath.Join(tree, f)); f != "" && err == nil {
				diff += fmt.Sprintf("\nuntracked %s %d %d", f, fi.Size(), fi.ModTime().UnixNano())
			}
		}
		id := "git " + strings.TrimSpace(head)
		if status != "" {
			id += " dirty " + sha([]byte(status + diff))[:16]
		}
		return id, nil
	}
	h := sha256.New()
	err := filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d %d\n", p[len(tree):], info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return "", err
	}
	return "files " + hex.EncodeToString(h.Sum(nil))[:16], nil
}

func toolchain(ctx context.Context) string {
	out, err := output(ctx, "", "gcc", "--version")
	if err != nil {
		return "gcc not found"
	}
	first, _, _ := strings.Cut(out, "\n")
	return first
}

func output(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := proc.Command(ctx, name, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// Key returns the cache key the spec would build under, without building.
func Key(ctx context.Context, s Spec) (string, error) {
	in, err := load(ctx, s)
	if err != nil {
		return "", err
	}
	return in.key(), nil
}

// Build builds spec, or returns the cached build of the same inputs.
func Build(ctx context.Context, s Spec, o Options) (*Manifest, error) {
	if o.Progress == nil {
		o.Progress = func(string) {}
	}
	if o.Jobs <= 0 {
		o.Jobs = runtime.NumCPU()
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 10 * time.Second
	}
	in, err := load(ctx, s)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(o.CacheDir, "build")
	out := filepath.Join(root, "kernel-"+in.key())
	if m, err := readManifest(out); err == nil {
		m.Cached = true
		return m, nil
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create build cache: %w", err)
	}
	lock, err := lockDir(ctx, filepath.Join(root, "tree-"+in.sourceKey()+".lock"))
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	// Another process may have finished the same build while we waited.
	if m, err := readManifest(out); err == nil {
		m.Cached = true
		return m, nil
	}
	start := time.Now()
	work := filepath.Join(root, "tree-"+in.sourceKey())
	src := filepath.Join(work, "src")
	obj := objDir(src)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	logPath := filepath.Join(work, "build.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	if err := prepareSource(ctx, in, src, logf, o.Progress); err != nil {
		return nil, err
	}
	if from, err := seed(ctx, root, work, in, logf); err != nil {
		return nil, err
	} else if from != "" {
		o.Progress("incremental: starting from the objects of " + filepath.Base(from))
	}
	// This build's patched files are always newer than every object in
	// the tree: a scratch tree prepared long ago (by an earlier vmtest, or
	// before its objects were seeded) must not keep an object of the
	// unpatched file. It costs recompiling a few files.
	ours := in.patchedFiles()
	if err := touchNewer(src, ours, ours); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(obj, 0o755); err != nil {
		return nil, err
	}
	config, err := configure(ctx, in, src, obj, logf, logPath, o.Progress)
	if err != nil {
		return nil, err
	}
	o.Progress(fmt.Sprintf("building %s bzImage with %d jobs (log: %s)", in.version, o.Jobs, logPath))
	if err := makeKernel(ctx, src, obj, o, logf, logPath, "bzImage"); err != nil {
		return nil, err
	}
	logf.Close()
	m, err := install(in, out, obj, config, logPath, start)
	if err != nil {
		return nil, err
	}
	// Only now may this object tree seed others: it is complete.
	if err := recordSeed(work, in); err != nil {
		return nil, err
	}
	return m, nil
}

// prepareSource makes src a scratch copy of the tree with the patches
// applied, once per (tree, patches): hard links where the filesystem
// allows (the kernel build writes only into O=), real copies for every
// file a patch touches so the user's tree is never modified.
func prepareSource(ctx context.Context, in *inputs, src string, log io.Writer, progress func(string)) error {
	if _, err := os.Stat(filepath.Join(src, ".vmtest-ready")); err == nil {
		return nil
	}
	os.RemoveAll(src)
	tmp := src + ".partial"
	os.RemoveAll(tmp)
	progress("copying " + in.tree + " to a scratch tree")
	if err := runLogged(ctx, "", log, "cp", "-al", in.tree, tmp); err != nil {
		os.RemoveAll(tmp)
		if err := runLogged(ctx, "", log, "cp", "-a", in.tree, tmp); err != nil {
			return &Error{Step: "copy source tree", Err: err}
		}
	}
	// A tree built in place makes `make O=` refuse; clean only the copy.
	if exists(filepath.Join(tmp, ".config")) || exists(filepath.Join(tmp, "include", "config")) {
		progress("source tree was built in place; cleaning the scratch copy (make mrproper)")
		if err := runLogged(ctx, tmp, log, "make", "-s", "mrproper"); err != nil {
			return &Error{Step: "make mrproper in scratch tree", Err: err}
		}
	}
	for _, p := range in.patches {
		for _, f := range p.Files {
			if err := breakLink(filepath.Join(tmp, f)); err != nil {
				return &Error{Step: "prepare " + f + " for patching", Err: err}
			}
		}
		progress(fmt.Sprintf("applying %s: %s", filepath.Base(p.Source), p.Subject))
		var errb bytes.Buffer
		cmd := proc.Command(ctx, "git", "apply", "--verbose", "-p1", "-")
		cmd.Dir = tmp
		// Outside any repository git apply patches plain files; keep it
		// from finding one above the cache.
		cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(tmp))
		cmd.Stdin = bytes.NewReader(p.Data)
		cmd.Stdout, cmd.Stderr = log, io.MultiWriter(log, &errb)
		if err := cmd.Run(); err != nil {
			return inputerr.Errorf("patch", p.Source, "message %d (%q) does not apply to %s: %s", p.Index, p.Subject, in.tree, firstLine(errb.String()))
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".vmtest-ready"), nil, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, src)
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		// git apply --verbose opens a failed hunk with "error: while
		// searching for:" and the hunk's lines; the cause follows.
		if strings.HasPrefix(l, "error:") && l != "error: while searching for:" {
			return l
		}
	}
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

// breakLink replaces a hard-linked file by a private copy so that editing
// it cannot reach the original tree.
func breakLink(p string) error {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // a file the patch creates
	}
	if err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	tmp := p + ".vmtest-copy"
	if err := os.WriteFile(tmp, data, fi.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// configure writes obj/.config: the base, the fragments merged in, then
// olddefconfig; it refuses a config that lost a requested option.
func configure(ctx context.Context, in *inputs, src, obj string, log io.Writer, logPath string, progress func(string)) ([]byte, error) {
	progress(fmt.Sprintf("configuring: %s + %d fragment(s)", in.spec.Base, len(in.frags)))
	mk := func(target string) error {
		if err := runLogged(ctx, src, log, "make", "O="+obj, target); err != nil {
			return &Error{Step: "make " + target, Err: err, Log: logPath, First: firstBuildError(logPath)}
		}
		return nil
	}
	cfgPath := filepath.Join(obj, ".config")
	if in.baseData != nil {
		if err := os.WriteFile(cfgPath, in.baseData, 0o644); err != nil {
			return nil, err
		}
	} else if err := mk(in.spec.Base); err != nil {
		return nil, err
	}
	base, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(cfgPath, Merge(base, in.frags...), 0o644); err != nil {
		return nil, err
	}
	if err := mk("olddefconfig"); err != nil {
		return nil, err
	}
	final, err := os.ReadFile(cfgPath)
	if err != nil {
		return nil, err
	}
	if unmet := Unmet(final, in.frags...); len(unmet) > 0 {
		return nil, inputerr.Errorf("config", "", "the fragments ask for options Kconfig dropped (their dependencies are missing; add them to the fragment): %s", strings.Join(unmet, ", "))
	}
	return final, nil
}

var compileStep = regexp.MustCompile(`^\s+(CC|LD|AS|AR|OBJCOPY|GEN|HOSTCC)\s+(\S+)`)

// makeKernel runs make with the output in the log and a status line every
// ProgressEvery.
func makeKernel(ctx context.Context, src, obj string, o Options, log io.Writer, logPath, target string) error {
	cmd := proc.Command(ctx, "make", "O="+obj, fmt.Sprintf("-j%d", o.Jobs), target)
	cmd.Dir = src
	// Fixed user and host keep the version string free of this machine.
	cmd.Env = append(os.Environ(), "KBUILD_BUILD_USER=vmtest", "KBUILD_BUILD_HOST=vmtest")
	// An OS pipe handed to make as its output, not an io.Writer: exec.Cmd
	// would copy a writer's output in a goroutine of its own, and on a
	// loaded machine a copy still running a second after make exited
	// (proc.Command's WaitDelay) failed a good build.
	pr, pw, err := os.Pipe()
	if err != nil {
		return &Error{Step: "make " + target, Err: err}
	}
	defer pr.Close()
	cmd.Stdout, cmd.Stderr = pw, pw
	var steps atomic.Int64
	var last atomic.Value
	last.Store("")
	scanDone := make(chan struct{})
	go func() {
		defer close(scanDone)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(log, line)
			if m := compileStep.FindStringSubmatch(line); m != nil {
				steps.Add(1)
				last.Store(m[1] + " " + m[2])
			}
		}
		io.Copy(io.Discard, pr)
	}()
	tick := time.NewTicker(o.ProgressEvery)
	defer tick.Stop()
	start := time.Now()
	err = cmd.Start()
	pw.Close() // make has its copy; the scanner sees EOF once make's side closes
	if err != nil {
		return &Error{Step: "make " + target, Err: err}
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	for {
		select {
		case err := <-waitErr:
			// A process make left behind may hold the pipe open: the log
			// is complete enough after a few seconds.
			select {
			case <-scanDone:
			case <-time.After(5 * time.Second):
				pr.Close()
				<-scanDone
			}
			if err != nil {
				return &Error{Step: "make " + target, Err: err, Log: logPath, First: firstBuildError(logPath)}
			}
			return nil
		case <-tick.C:
			o.Progress(fmt.Sprintf("  %s: %d steps, last %s", time.Since(start).Round(time.Second), steps.Load(), last.Load()))
		}
	}
}

var buildErr = regexp.MustCompile(`(error:|Error [0-9]+|\*\*\* |undefined reference|fatal:)`)

// firstBuildError returns the log's first line that looks like an error:
// with -j the last lines are usually make's "Error 2" cascade, not the
// cause.
func firstBuildError(logPath string) string {
	f, err := os.Open(logPath)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if buildErr.MatchString(sc.Text()) {
			return strings.TrimSpace(sc.Text())
		}
	}
	return ""
}

func runLogged(ctx context.Context, dir string, log io.Writer, name string, args ...string) error {
	cmd := proc.Command(ctx, name, args...)
	cmd.Dir = dir
	fmt.Fprintf(log, "$ %s %s\n", name, strings.Join(args, " "))
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = log, io.MultiWriter(log, &errb)
	if err := cmd.Run(); err != nil {
		if e := strings.TrimSpace(errb.String()); e != "" {
			return fmt.Errorf("%s: %w: %s", name, err, firstLine(e))
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// install copies the bzImage, vmlinux, config, log and manifest into the output
// directory through a temporary one, so a cached entry is always whole.
func install(in *inputs, out, obj string, config []byte, logPath string, start time.Time) (*Manifest, error) {
	img, err := os.ReadFile(filepath.Join(obj, "arch", "x86", "boot", "bzImage"))
	if err != nil {
		return nil, &Error{Step: "collect bzImage", Err: err, Log: logPath}
	}
	tmp := out + ".partial"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return nil, err
	}
	// vmlinux is bzImage's prerequisite, so a finished build has it.
	elf, err := os.ReadFile(filepath.Join(obj, "vmlinux"))
	if err != nil {
		return nil, &Error{Step: "collect vmlinux", Err: err, Log: logPath}
	}
	logData, _ := os.ReadFile(logPath)
	m := &Manifest{
		Key:           in.key(),
		Base:          in.spec.Base,
		Fragments:     in.fragHash,
		ConfigSHA256:  sha(config),
		Patches:       in.patchInfo,
		Toolchain:     in.toolchain,
		BzImage:       filepath.Join(out, "bzImage"),
		BzImageSHA256: sha(img),
		Vmlinux:       filepath.Join(out, "vmlinux"),
		Log:           filepath.Join(out, "build.log"),
		BuiltAt:       start.UTC(),
		BuildSeconds:  time.Since(start).Seconds(),
	}
	m.Source.Path, m.Source.Identity, m.Source.Version = in.tree, in.identity, in.version
	js, _ := json.MarshalIndent(m, "", "  ")
	for name, data := range map[string][]byte{"bzImage": img, "vmlinux": elf, "config": config, "build.log": logData, "manifest.json": append(js, '\n')} {
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			return nil, err
		}
	}
	os.RemoveAll(out)
	if err := os.Rename(tmp, out); err != nil {
		return nil, err
	}
	return m, nil
}

func readManifest(dir string) (*Manifest, error) {
	data, err := os.ReadFile(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	if _, err := os.Stat(m.BzImage); err != nil {
		return nil, err
	}
	return &m, nil
}
