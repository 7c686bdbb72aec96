package fetch

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAptCache: an answer is reused while apt's inputs are unchanged, and
// asked again after a change to any of them (a list renamed into the
// lists directory, a preferences file edited) or for other arguments;
// failures are never kept, and without a cache directory apt-cache is
// always asked.
func TestAptCache(t *testing.T) {
	dir := t.TempDir()
	lists, prefs := filepath.Join(dir, "lists"), filepath.Join(dir, "preferences")
	if err := os.Mkdir(lists, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(prefs, []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	inputs := []string{lists, prefs, filepath.Join(dir, "absent")}
	cache := t.TempDir()
	asked, answer := 0, "Depends: linux-image-6.1.0-1-amd64"
	var fail error
	ask := func() (string, error) { asked++; return answer, fail }
	// Stamps far apart, so that no change hides inside a timestamp tick.
	stamp := time.Now().Add(-time.Hour)
	touch := func(p string) {
		stamp = stamp.Add(time.Minute)
		if err := os.Chtimes(p, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		name   string
		change func()
		cache  string
		args   []string
		fail   error
		asks   int // apt-cache runs this step
	}{
		{"first: asked", nil, cache, []string{"depends", "x"}, nil, 1},
		{"unchanged: remembered", nil, cache, []string{"depends", "x"}, nil, 0},
		{"other arguments: asked", nil, cache, []string{"policy", "x"}, nil, 1},
		{"a list renamed in: asked", func() {
			os.WriteFile(filepath.Join(lists, "new"), nil, 0o644)
			touch(lists)
		}, cache, []string{"depends", "x"}, nil, 1},
		{"then remembered", nil, cache, []string{"depends", "x"}, nil, 0},
		{"preferences edited: asked", func() { os.WriteFile(prefs, []byte("b"), 0o644); touch(prefs) }, cache, []string{"depends", "x"}, nil, 1},
		{"a failure: asked", func() { touch(prefs) }, cache, []string{"depends", "x"}, errors.New("apt broke"), 1},
		{"not kept: asked again", nil, cache, []string{"depends", "x"}, nil, 1},
		{"no cache directory: always asked", nil, "", []string{"depends", "x"}, nil, 1},
		{"no cache directory, again", nil, "", []string{"depends", "x"}, nil, 1},
	} {
		if step.change != nil {
			step.change()
		}
		fail = step.fail
		before := asked
		out, err := aptCacheWith(t.Context(), step.cache, inputs, ask, step.args...)
		if (err != nil) != (step.fail != nil) || out != answer {
			t.Errorf("%s: %q, %v", step.name, out, err)
		}
		if got := asked - before; got != step.asks {
			t.Errorf("%s: apt-cache ran %d times, want %d", step.name, got, step.asks)
		}
	}
}
