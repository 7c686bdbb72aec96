//go:build linux

package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vmtest/vmtest/guest/clone3"
	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/contract"
	"github.com/vmtest/vmtest/internal/result"
)

// A case's setup is built hop by hop: each hop is a re-execution of the
// agent with new namespaces or credentials, because Go cannot switch them
// for a running multithreaded process (unshare(CLONE_NEWUSER) needs a
// single thread, and a new PID namespace only applies to children). The
// last hop runs the case body and prints its result as one JSON line.

// hopAttrs returns the SysProcAttr of every hop the setup needs, in order.
func hopAttrs(s matrix.Setup) []*syscall.SysProcAttr {
	var hops []*syscall.SysProcAttr
	inUserNS := false
	for _, l := range s.Levels {
		// A private mount namespace per level lets the hop mount its own
		// namespace's procfs on /proc, which os/exec needs to write the
		// uid_map of the next hop (it addresses it by the PID it got).
		a := &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
		if l.UserNS {
			a.Cloneflags |= syscall.CLONE_NEWUSER
			// The first user namespace maps its root to an ID that is not
			// root outside, like a container's; nested ones map within it.
			host := 100000
			if inUserNS {
				host = 0
			}
			a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: host, Size: 65536}}
			a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: host, Size: 65536}}
			// Without a setuid inside the new namespace the process keeps
			// its outer (unmapped) UID and execs without capabilities.
			a.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
			inUserNS = true
		}
		hops = append(hops, a)
	}
	if s.UID != 0 || len(s.AmbientCaps) > 0 {
		// A hop of its own: the level hops above must keep root to mount
		// their procfs; this one only switches credentials.
		hops = append(hops, &syscall.SysProcAttr{
			Pdeathsig:   syscall.SIGKILL,
			Credential:  &syscall.Credential{Uid: uint32(s.UID), Gid: uint32(s.UID), NoSetGroups: inUserNS},
			AmbientCaps: capNumbers(s.AmbientCaps),
		})
	}
	return hops
}

// CaseMain is the entry point of a case process: argv is
// [self, contract.CaseArg, id, hop, features, slot, proxy timeout].
func CaseMain(argv []string) {
	if len(argv) != 7 {
		fmt.Fprintf(os.Stderr, "usage: %s %s ID HOP FEATURES SLOT PROXY-TIMEOUT\n", argv[0], contract.CaseArg)
		os.Exit(2)
	}
	c, ok := matrix.Lookup(argv[2])
	if !ok {
		fail(argv[2], "unknown case")
	}
	hop, err := strconv.Atoi(argv[3])
	if err != nil {
		fail(c.ID, "bad hop "+argv[3])
	}
	hops := hopAttrs(c.Setup)
	if hop > 0 && hop <= len(c.Setup.Levels) {
		if err := mountOwnProc(); err != nil {
			fail(c.ID, fmt.Sprintf("hop %d: %v", hop, err))
		}
	}
	if hop < len(hops) {
		os.Exit(nextHop(c, argv, hop, hops[hop]))
	}
	// The body's clone3 calls must come from the thread whose credentials
	// and namespaces were set up, so pin it for the rest of the process.
	runtime.LockOSThread()
	if err := matrix.ApplyCaps(clone3.Direct, c.Setup.KeepOnlyCaps, c.Setup.DropCaps); err != nil {
		fail(c.ID, err.Error())
	}
	slot, _ := strconv.Atoi(argv[5])
	pt, err := time.ParseDuration(argv[6])
	if err != nil {
		fail(c.ID, "bad proxy timeout "+argv[6])
	}
	t, err := matrix.NewT(c, c.Setup.Depth(), slot, pt)
	if err != nil {
		fail(c.ID, err.Error())
	}
	emit(matrix.RunBody(c, t))
	os.Exit(0)
}

func nextHop(c matrix.Case, argv []string, hop int, attr *syscall.SysProcAttr) int {
	cmd := exec.Command(argv[0], contract.CaseArg, c.ID, strconv.Itoa(hop+1), argv[4], argv[5], argv[6])
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = attr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			if ee.ExitCode() >= 0 {
				return ee.ExitCode()
			}
			fail(c.ID, fmt.Sprintf("hop %d: %v", hop+1, err))
		}
		fail(c.ID, fmt.Sprintf("set up hop %d (%s): %v", hop+1, describe(attr), err))
	}
	return 0
}

func describe(a *syscall.SysProcAttr) string {
	var parts []string
	if a.Cloneflags&unix.CLONE_NEWPID != 0 {
		parts = append(parts, "CLONE_NEWPID")
	}
	if a.Cloneflags&unix.CLONE_NEWUSER != 0 {
		parts = append(parts, "CLONE_NEWUSER")
	}
	if a.Credential != nil {
		parts = append(parts, fmt.Sprintf("uid %d", a.Credential.Uid))
	}
	return strings.Join(parts, "|")
}

// fail reports a setup failure as the case's error and exits.
func fail(id, reason string) {
	emit(result.Case{ID: id, Outcome: result.Error, Reason: "setup: " + reason})
	os.Exit(0)
}

func emit(r result.Case) {
	b, _ := json.Marshal(r)
	os.Stdout.Write(append(b, '\n'))
}

// mountOwnProc mounts this PID namespace's procfs on /proc inside the hop's
// private mount namespace, so that /proc/PID means a PID of this namespace.
func mountOwnProc() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount procfs of the new PID namespace: %w", err)
	}
	return nil
}

// capNumbers converts capabilities for syscall.SysProcAttr.
func capNumbers(cs []matrix.Cap) []uintptr {
	out := make([]uintptr, len(cs))
	for i, c := range cs {
		out[i] = uintptr(c)
	}
	return out
}
