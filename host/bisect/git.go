package bisect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// git runs git in dir and returns its trimmed stdout; a failure's error
// carries git's own message (its stderr's last line).
func git(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(errb.String())
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:]
		}
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("git %s: %s", args[0], msg)
	}
	return strings.TrimSpace(out.String()), nil
}

// gitStatus runs git in dir and returns its exit status, for the git
// commands that answer a question by it (merge-base --is-ancestor,
// cat-file -e). An error is a git that could not run at all.
func gitStatus(ctx context.Context, dir string, args ...string) (int, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	err := cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("git %s: %w", args[0], err)
	}
	return 0, nil
}

// Head is the commit checked out in dir, a full hash.
func Head(ctx context.Context, dir string) (string, error) {
	h, err := git(ctx, dir, "rev-parse", "--verify", "HEAD")
	if err != nil {
		return "", fmt.Errorf("find the commit checked out: %w", err)
	}
	return h, nil
}

// Subject is a commit's one-line subject ("" when git cannot say).
func Subject(ctx context.Context, dir, commit string) string {
	s, _ := git(ctx, dir, "log", "-1", "--format=%s", commit)
	return s
}
