package qemu

import "syscall"

// ctimeNano is a file's status-change time: a binary replaced in place
// (same inode, size and mtime restored) still changes it.
func ctimeNano(st *syscall.Stat_t) int64 { return st.Ctim.Nano() }
