package qemu

import (
	"os"
	"strings"
	"time"
)

// HostTSCKHz measures the host CPU's time-stamp counter frequency in kHz
// over window (10 ms when zero): the rate at which a TCG guest's TSC
// runs, since TCG reads the host's TSC for the guest's RDTSC. It returns
// 0 where the host's TSC cannot stand in for a clock (not x86-64, or no
// constant_tsc and nonstop_tsc in /proc/cpuinfo) or the measurement is
// implausible.
func HostTSCKHz(window time.Duration) int {
	if !haveRDTSC {
		return 0
	}
	info, err := os.ReadFile("/proc/cpuinfo")
	if err != nil || !strings.Contains(string(info), " constant_tsc") || !strings.Contains(string(info), " nonstop_tsc") {
		return 0
	}
	if window == 0 {
		window = 10 * time.Millisecond
	}
	t0, c0 := time.Now(), rdtsc()
	time.Sleep(window)
	t1, c1 := time.Now(), rdtsc()
	us := t1.Sub(t0).Microseconds()
	if us <= 0 || c1 <= c0 {
		return 0
	}
	khz := int((c1 - c0) * 1000 / uint64(us))
	if khz < 100_000 || khz > 20_000_000 { // 100 MHz to 20 GHz
		return 0
	}
	return khz
}
