// Package fileid remembers what was worked out from a file's contents (a
// checksum verified, a SHA-256, a static-binary check) under the file's
// identity: its device, inode, size, and modification and status-change
// times to the nanosecond. A warm `vmtest run` then reads a small JSON
// file instead of the 8 MB kernel and the 10 MB agent binary: checking,
// hashing and re-hashing them cost about 100 ms of the 110 ms it spent
// before QEMU started.
//
// The identity changes with every write to the file (the status-change
// time cannot be set back, unlike the modification time), and with its
// replacement by another file (a new inode). A value is only remembered
// when the file's identity was the same before and after it was worked
// out, and when the file last changed well before that (see Cache.Settle),
// so that a write within the file system's timestamp granularity cannot
// go unseen.
package fileid

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vmtest/vmtest/internal/atomicfile"
	"github.com/vmtest/vmtest/internal/digest"
)

// ID is a file's identity. Two equal IDs of one path mean the same,
// unchanged contents.
type ID struct {
	Dev      uint64 `json:"dev"`
	Ino      uint64 `json:"ino"`
	Size     int64  `json:"size"`
	ModNS    int64  `json:"mtime_ns"`
	ChangeNS int64  `json:"ctime_ns"`
}

// Of is the identity of the file at path. ok is false where the platform
// gives no inode and status-change time: then nothing is remembered.
func Of(path string) (id ID, ok bool) {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return ID{}, false
	}
	return fromInfo(st)
}

// OfAny is Of for a path of any kind, a directory included: a directory's
// times change whenever an entry is added, removed or renamed in it, which
// is how apt-get update installs new package lists (host/fetch).
func OfAny(path string) (id ID, ok bool) {
	st, err := os.Stat(path)
	if err != nil {
		return ID{}, false
	}
	return fromInfo(st)
}

// defaultSettle is Cache.Settle's default.
const defaultSettle = time.Second

// Cache is a directory of remembered values; the zero Cache (no Dir)
// remembers nothing.
type Cache struct {
	// Dir holds the entries, one small JSON file each.
	Dir string
	// Settle is how long before a value is worked out the file must have
	// last changed for the value to be remembered (1 s when zero). A file
	// system stamps a write with a clock that ticks every few
	// milliseconds (or, over the network, with the server's clock): a
	// second write within the same tick as the first would keep the
	// identity the value was remembered under.
	Settle time.Duration
}

// At is the cache kept in a vmtest cache directory.
func At(cacheDir string) Cache {
	if cacheDir == "" {
		return Cache{}
	}
	return Cache{Dir: filepath.Join(cacheDir, "fileid")}
}

// entry is one remembered value.
type entry struct {
	Kind  string          `json:"kind"`
	Path  string          `json:"path"`
	ID    ID              `json:"id"`
	Value json.RawMessage `json:"value"`
}

// Remember returns what compute works out from the file at path,
// remembered in c under kind (which names the computation and its
// version: a changed computation takes a new kind) and the file's
// identity. hit says whether the value came from c. Errors are not
// remembered; compute reports them (a missing file included).
func Remember[T any](c Cache, kind, path string, compute func() (T, error)) (v T, hit bool, err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		v, err = compute()
		return v, false, err
	}
	before, ok := Of(abs)
	if c.Dir == "" || !ok {
		v, err = compute()
		return v, false, err
	}
	key := c.key(kind, abs)
	if data, err := os.ReadFile(key); err == nil {
		var e entry
		if json.Unmarshal(data, &e) == nil && e.Kind == kind && e.Path == abs && e.ID == before && json.Unmarshal(e.Value, &v) == nil {
			return v, true, nil
		}
	}
	start := time.Now()
	if v, err = compute(); err != nil {
		return v, false, err
	}
	settle := c.Settle
	if settle == 0 {
		settle = defaultSettle
	}
	after, ok := Of(abs)
	if !ok || after != before || time.Unix(0, max(before.ModNS, before.ChangeNS)).After(start.Add(-settle)) {
		return v, false, nil // changed meanwhile, or too recently to tell
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return v, false, nil
	}
	data, _ := json.Marshal(entry{Kind: kind, Path: abs, ID: before, Value: raw})
	// A cache: when it cannot be written, the next run works it out again.
	if os.MkdirAll(c.Dir, 0o755) == nil {
		atomicfile.WriteFile(key, append(data, '\n'), 0o644)
	}
	return v, false, nil
}

// key is the entry file of kind for the file at abs.
func (c Cache) key(kind, abs string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + abs))
	return filepath.Join(c.Dir, hex.EncodeToString(h[:12])+".json")
}

// SHA256 is digest.File, remembered.
func (c Cache) SHA256(path string) (string, error) {
	sum, _, err := Remember(c, "sha256", path, func() (string, error) { return digest.File(path) })
	if err != nil {
		return "", fmt.Errorf("hash %s: %w", path, err)
	}
	return sum, nil
}
