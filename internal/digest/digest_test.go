package digest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("abc"), 0o644)
	const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" // FIPS 180-2 test vector
	if got, err := File(p); got != abc || err != nil {
		t.Errorf("File = %s, %v", got, err)
	}
	if got := Bytes([]byte("abc")); got != abc {
		t.Errorf("Bytes = %s", got)
	}
	if _, err := File(p + ".missing"); err == nil {
		t.Error("hashing a missing file succeeded")
	}
}
