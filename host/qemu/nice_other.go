//go:build !linux

package qemu

import "os/exec"

// startWithNice starts cmd; off Linux the nice value is not applied.
func startWithNice(cmd *exec.Cmd, _ int, _ <-chan struct{}) error { return cmd.Start() }
