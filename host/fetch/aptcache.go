package fetch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/vmtest/vmtest/host/fileid"
	"github.com/vmtest/vmtest/internal/atomicfile"
)

// aptInputs are the files and directories whose state decides what
// apt-cache answers about a package: the package lists (apt-get update
// renames new ones into the directory, which changes its times), apt's
// binary caches built from them, the sources and the pinning preferences,
// and dpkg's record of what is installed.
var aptInputs = []string{
	"/var/lib/apt/lists",
	"/var/cache/apt/pkgcache.bin",
	"/var/cache/apt/srcpkgcache.bin",
	"/etc/apt/sources.list",
	"/etc/apt/sources.list.d",
	"/etc/apt/preferences",
	"/etc/apt/preferences.d",
	"/var/lib/dpkg/status",
}

// aptState describes aptInputs as they are now: the identity of each
// (host/fileid: device, inode, size and times), "-" for one that is
// absent. Any change to apt's view of the archive changes it. ok is false
// where the platform gives no identity for a path that exists: then no
// answer can be trusted to be current.
func aptState(paths []string) (state string, ok bool) {
	var b strings.Builder
	for _, p := range paths {
		if id, known := fileid.OfAny(p); known {
			fmt.Fprintf(&b, "%s %d %d %d %d %d\n", p, id.Dev, id.Ino, id.Size, id.ModNS, id.ChangeNS)
			continue
		}
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			return "", false
		}
		fmt.Fprintf(&b, "%s -\n", p)
	}
	return b.String(), true
}

// aptAnswer is one remembered apt-cache answer.
type aptAnswer struct {
	State  string `json:"state"`
	Output string `json:"output"`
}

// aptCache runs apt-cache with args, or returns its answer from the last
// time, kept under cacheDir for as long as apt's inputs are unchanged.
// apt-cache spends over a second of CPU reading its caches, and
// `vmtest run --kernel debian` and every build spec ask it on each run:
// more than the rest of the host's work before the VM starts, a hundred
// times over.
func aptCache(ctx context.Context, cacheDir string, args ...string) (string, error) {
	return aptCacheWith(ctx, cacheDir, aptInputs, func() (string, error) { return run(ctx, "", "apt-cache", args...) }, args...)
}

// aptCacheWith is aptCache with the inputs and the command given, for
// tests.
func aptCacheWith(ctx context.Context, cacheDir string, inputs []string, ask func() (string, error), args ...string) (string, error) {
	if cacheDir == "" {
		return ask()
	}
	sum := sha256.Sum256([]byte(strings.Join(args, "\x00")))
	path := filepath.Join(cacheDir, "apt", hex.EncodeToString(sum[:12])+".json")
	state, ok := aptState(inputs)
	if !ok {
		return ask()
	}
	if b, err := os.ReadFile(path); err == nil {
		var a aptAnswer
		if json.Unmarshal(b, &a) == nil && a.State == state {
			return a.Output, nil
		}
	}
	out, err := ask()
	if err != nil {
		return out, err
	}
	// Only an answer given while nothing changed is kept; a cache that
	// cannot be written costs the next run a second, nothing more.
	if now, _ := aptState(inputs); now == state {
		if b, err := json.Marshal(aptAnswer{State: state, Output: out}); err == nil {
			if os.MkdirAll(filepath.Dir(path), 0o755) == nil {
				atomicfile.WriteFile(path, b, 0o644)
			}
		}
	}
	return out, nil
}
