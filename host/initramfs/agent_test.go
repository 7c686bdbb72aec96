package initramfs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmtest/vmtest/internal/inputerr"
)

// TestFindAgent: the agent beside the executable, or the one
// $VMTEST_AGENT names; a missing one is bad input that says how to
// install it.
func TestFindAgent(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "vmtest")
	beside := filepath.Join(dir, AgentName)
	other := filepath.Join(t.TempDir(), "my-agent")
	for _, p := range []string{self, other} {
		if err := os.WriteFile(p, nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		env     string
		beside  bool
		want    string
		wantErr string
	}{
		{name: "beside", beside: true, want: beside},
		{name: "missing", wantErr: "guest agent " + beside + " not found beside vmtest: build both with `make build`"},
		{name: "env", env: other, want: other},
		{name: "env wins", env: other, beside: true, want: other},
		{name: "env names nothing", env: other + ".gone", beside: true, wantErr: "VMTEST_AGENT " + other + ".gone: no such guest agent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(beside)
			if tt.beside {
				if err := os.WriteFile(beside, nil, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			t.Setenv(AgentEnv, tt.env)
			got, err := findAgent(self)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, inputerr.ErrBadInput) {
					t.Fatalf("findAgent = %q, %v; want bad input containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("findAgent = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// TestFindAgentFollowsLinks: vmtest reached through a symbolic link (on
// PATH, say) finds the agent beside the real binary.
func TestFindAgentFollowsLinks(t *testing.T) {
	t.Setenv(AgentEnv, "")
	real := t.TempDir()
	for _, n := range []string{"vmtest", AgentName} {
		if err := os.WriteFile(filepath.Join(real, n), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	link := filepath.Join(t.TempDir(), "vmtest")
	if err := os.Symlink(filepath.Join(real, "vmtest"), link); err != nil {
		t.Fatal(err)
	}
	got, err := findAgent(link)
	if want := filepath.Join(real, AgentName); err != nil || got != want {
		t.Fatalf("findAgent(%s) = %q, %v; want %q", link, got, err, want)
	}
}
