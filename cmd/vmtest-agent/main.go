// Command vmtest-agent is vmtest's guest agent: the initramfs's /init,
// PID 1 of the VM that vmtest run boots. It runs the set_tid matrix and
// reports over the result channel (see package agent); with the hidden
// first argument contract.CaseArg it is one case's process instead (the
// exec runner re-executes it per namespace level).
//
// It is a binary of its own, not a mode of the vmtest CLI, so the guest
// unpacks and starts guest code only. It must be static: build it with
// CGO_ENABLED=0 (make build does) and install it beside vmtest, where
// vmtest looks for it (or name it with VMTEST_AGENT).
package main

import (
	"fmt"
	"os"

	"github.com/vmtest/vmtest/guest/agent"
	"github.com/vmtest/vmtest/internal/contract"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == contract.CaseArg {
		agent.CaseMain(os.Args)
		return
	}
	if os.Getpid() != 1 {
		fmt.Fprintln(os.Stderr, "vmtest-agent: this is the guest's /init, started by the kernel that vmtest run boots; run vmtest instead")
		os.Exit(2)
	}
	agent.Main()
}
