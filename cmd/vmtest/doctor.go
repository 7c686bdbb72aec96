package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"

	"github.com/vmtest/vmtest/host/doctor"
	"github.com/vmtest/vmtest/host/run"
)

// cmdDoctor prints what vmtest thinks of this host. Exit 0 when a run can
// work here (QEMU found, TCG runs the probe, a static guest agent beside
// vmtest), 3 when it cannot: doctor reports on the host, so a missing
// agent is a finding here, where run refuses it as bad input (exit 2).
func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vmtest doctor", flag.ContinueOnError)
	qemuBin := fs.String("qemu", "", "QEMU binary (default qemu-system-x86_64 from PATH)")
	cache := fs.String("cache", "", "cache directory (default ~/.cache/vmtest)")
	recheck := fs.Bool("recheck", false, "probe KVM again, replacing the cached verdict")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if code, ok := parseFlags(fs, args, stderr); !ok {
		return code
	}
	if *cache == "" {
		*cache = run.DefaultCacheDir()
	}
	r, err := doctor.Inspect(ctx, doctor.Options{QEMU: *qemuBin, CacheDir: *cache, Recheck: *recheck, Agent: agentBinary})
	if err != nil {
		if ctx.Err() != nil {
			return exitInterrupted
		}
		fmt.Fprintf(stderr, "vmtest doctor: %v\n", err)
		return exitInfra
	}
	if *asJSON {
		b, _ := json.MarshalIndent(r, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		r.Write(stdout)
	}
	if !r.Usable() {
		return exitInfra
	}
	return exitOK
}
