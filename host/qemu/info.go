package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/vmtest/vmtest/internal/atomicfile"
)

// output runs binary with args and returns its standard output, cached
// on disk under the binary's identity (path, inode, size, modification
// and change times): what a QEMU binary says about itself (its version,
// its device models) changes only with the binary, and asking costs a
// QEMU start each time, 30 ms on an idle host and a quarter of a second
// on a busy one, most of a warm run's work before its VM starts. A
// failed run is not cached.
func output(ctx context.Context, binary string, args ...string) ([]byte, error) {
	cache := ""
	if path, err := exec.LookPath(binary); err == nil {
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		if st, err := os.Stat(path); err == nil {
			if sys, ok := st.Sys().(*syscall.Stat_t); ok {
				key := fmt.Sprintf("%s\n%d %d %d %d %d %d\n%q", path, sys.Dev, sys.Ino, st.Size(), st.ModTime().UnixNano(), ctimeNano(sys), 0, args)
				h := sha256.Sum256([]byte(key))
				if dir, err := os.UserCacheDir(); err == nil {
					cache = filepath.Join(dir, "vmtest", "qemu", hex.EncodeToString(h[:12]))
				}
			}
		}
	}
	if cache != "" {
		if b, err := os.ReadFile(cache); err == nil {
			return b, nil
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).Output()
	if err != nil {
		return nil, err
	}
	if cache != "" {
		// A cache: when it cannot be written, the next run asks again.
		if os.MkdirAll(filepath.Dir(cache), 0o755) == nil {
			atomicfile.WriteFile(cache, out, 0o644)
		}
	}
	return out, nil
}
