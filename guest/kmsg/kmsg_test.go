//go:build linux

package kmsg

import "testing"

func TestTitle(t *testing.T) {
	tests := []struct{ record, want string }{
		{"4,512,1234567,-;WARNING: CPU: 1 PID: 87 at kernel/pid.c:229 alloc_pid+0x3a/0x3b0\n SUBSYSTEM=x\n", "WARNING: at kernel/pid.c:229 alloc_pid"},
		{"4,1,2,-;WARNING: possible circular locking dependency detected", "WARNING: possible circular locking dependency detected"},
		{"3,9,10,-;BUG: sleeping function called from invalid context at mm/slab.h:723", "BUG: sleeping function called from invalid context at mm/slab.h:723"},
		{"4,9,10,-;kernel BUG at kernel/pid.c:245!", "kernel BUG at kernel/pid.c:245!"},
		{"3,9,10,c;UBSAN: shift-out-of-bounds in kernel/fork.c:2001:3", "UBSAN: shift-out-of-bounds in kernel/fork.c:2001:3"},
		// Written from user space: the kernel gives it the user facility.
		{"12,9,10,-;WARNING: CPU: 0 PID: 1 at kernel/pid.c:1 x+0x1/0x2", ""},
		// Below warning level, or not a report.
		{"6,9,10,-;WARNING: informational", ""},
		{"4,9,10,-;clocksource: tsc unstable", ""},
		{"garbage", ""},
		{"x,1,2,-;WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", ""},
	}
	for _, tt := range tests {
		if got := Title([]byte(tt.record)); got != tt.want {
			t.Errorf("Title(%q) = %q, want %q", tt.record, got, tt.want)
		}
	}
}

// TestWatcherNil: an agent without /dev/kmsg watches nothing.
func TestWatcherNil(t *testing.T) {
	var w *Watcher
	if w.Reports() != nil || w.Close() != nil {
		t.Error("a nil watcher must report nothing")
	}
}
