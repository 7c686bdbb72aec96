//go:build !linux

package fetch

import "syscall"

// statCtime is 0 off Linux: apt runs on Debian, and elsewhere the size,
// modification time and inode still tell a change.
func statCtime(*syscall.Stat_t) int64 { return 0 }
