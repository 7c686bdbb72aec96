package fakekernel

import (
	"testing"

	"github.com/vmtest/vmtest/host/bzimage"
)

func TestImagePassesCheck(t *testing.T) {
	p, err := Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	info, err := bzimage.Check(p)
	if err != nil {
		t.Fatal(err)
	}
	if info.Version != Version {
		t.Errorf("version %q", info.Version)
	}
}
