package doctor

import (
	"io/fs"
	"syscall"
)

// statBlocks returns the inode and 512-byte blocks of a file.
func statBlocks(fi fs.FileInfo) (ino uint64, blocks int64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, false
	}
	return st.Ino, st.Blocks, true
}
