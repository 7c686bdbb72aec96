package initramfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/vmtest/vmtest/internal/inputerr"
)

// AgentName is the guest agent's file name (cmd/vmtest-agent), which
// `make build` and `go install` put beside vmtest.
const AgentName = "vmtest-agent"

// AgentEnv names another agent binary, for a developer trying a changed
// agent without reinstalling vmtest.
const AgentEnv = "VMTEST_AGENT"

// FindAgent returns the guest agent this installation boots: $VMTEST_AGENT
// if set, else vmtest-agent in the directory of the running executable
// (with symbolic links resolved, so a link to vmtest on PATH finds the
// agent beside the real binary). A missing agent is bad input: nothing can
// be booted, and the message says how to install it.
func FindAgent() (string, error) {
	self, err := os.Executable()
	if err != nil && os.Getenv(AgentEnv) == "" {
		return "", fmt.Errorf("find vmtest's own executable, beside which the guest agent lives: %w", err)
	}
	return findAgent(self)
}

// Agent returns the guest agent a run boots, path or (when path is "")
// FindAgent's, checked to be able to be the guest's /init (CheckStatic).
// The path is returned with the error when one was found but is unfit.
// Every failure is bad input.
func Agent(path string) (string, error) {
	if path == "" {
		p, err := FindAgent()
		if err != nil {
			return "", err
		}
		path = p
	}
	if err := CheckStatic(path); err != nil {
		return path, inputerr.Wrap(err)
	}
	return path, nil
}

// findAgent is FindAgent for the executable at self.
func findAgent(self string) (string, error) {
	if p := os.Getenv(AgentEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", inputerr.Errorf(AgentEnv, p, "no such guest agent (%v); unset it to use the %s beside vmtest", err, AgentName)
		}
		return p, nil
	}
	if real, err := filepath.EvalSymlinks(self); err == nil {
		self = real
	}
	p := filepath.Join(filepath.Dir(self), AgentName)
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", inputerr.Errorf("", "", "guest agent %s not found beside %s: build both with `make build`, or install both with `CGO_ENABLED=0 go install github.com/vmtest/vmtest/cmd/...@latest`, or name one with %s", p, filepath.Base(self), AgentEnv)
		}
		return "", inputerr.Errorf("", "", "guest agent %s: %v", p, err)
	}
	return p, nil
}
