package main

// The CLI's tests run Main in this process: they check what a command
// says and returns without booting anything, so they need no vmtest
// binary and run under -short. What boots VMs is in /e2e.

import (
	"bytes"
	"fmt"
	"os"
	"testing"

	"github.com/vmtest/vmtest/internal/testutils"
)

func TestMain(m *testing.M) {
	// The test binary is no static guest agent: a stand-in that every
	// check accepts lets the commands get past it to the checks under
	// test. Nothing here boots it.
	dir, err := os.MkdirTemp("", "vmtest-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if agentBinary, err = testutils.WriteStaticAgent(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// vmtest runs the CLI in this process and returns its exit status, stdout
// and stderr.
func vmtest(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}
