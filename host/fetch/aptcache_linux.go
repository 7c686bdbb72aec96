package fetch

import "syscall"

// statCtime is a file's status-change time in nanoseconds.
func statCtime(s *syscall.Stat_t) int64 { return s.Ctim.Nano() }
