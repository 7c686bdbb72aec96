package qemu

import (
	"os"
	"testing"
)

// TestMain keeps what the tests' fake QEMUs say about themselves out of
// the user's cache (see output).
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vmtest-qemu-test-")
	if err != nil {
		panic(err)
	}
	os.Setenv("XDG_CACHE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
