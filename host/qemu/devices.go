package qemu

import (
	"bytes"
	"context"
)

// HasDevice reports whether the QEMU at binary has the device model name.
// Some distribution builds leave models out (ivshmem, for one); a QEMU that
// cannot be asked counts as not having it, and its real start reports why.
// The answer is cached per binary (see output).
func HasDevice(ctx context.Context, binary, name string) bool {
	out, err := output(ctx, binary, "-nodefaults", "-machine", "none", "-device", "help")
	if err != nil {
		return false
	}
	return bytes.Contains(out, []byte(`name "`+name+`"`))
}
