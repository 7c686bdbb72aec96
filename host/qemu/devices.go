package qemu

import (
	"bytes"
	"context"
	"os/exec"
	"time"
)

// HasDevice reports whether the QEMU at binary has the device model name.
// Some distribution builds leave models out (ivshmem, for one); a QEMU that
// cannot be asked counts as not having it, and its real start reports why.
func HasDevice(ctx context.Context, binary, name string) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "-nodefaults", "-machine", "none", "-device", "help").Output()
	if err != nil {
		return false
	}
	return bytes.Contains(out, []byte(`name "`+name+`"`))
}
