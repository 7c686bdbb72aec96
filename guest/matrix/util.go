package matrix

import (
	"os"
	"runtime"

	"github.com/vmtest/vmtest/internal/result"
)

// anySuccess expects the call to succeed with any PID.
func anySuccess() result.Answer { return result.Answer{} }

func pageSize() int { return os.Getpagesize() }

func ptr(v uint64) *uint64 { return &v }

// lockThread pins the body to its OS thread for good: namespace and
// credential changes made on it must apply to every later clone3 call.
func lockThread() { runtime.LockOSThread() }
