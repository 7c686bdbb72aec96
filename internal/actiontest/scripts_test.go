package actiontest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/result"
	"github.com/vmtest/vmtest/internal/testutils"
)

// runner is a fake GitHub runner for one job: its own HOME (so the vmtest
// cache is private), RUNNER_TEMP, and the files GitHub reads a step's
// outputs and summary from.
type runner struct {
	t                 *testing.T
	home, temp, fakes string
	output, summary   string
	env               map[string]string
}

func newRunner(t *testing.T) *runner {
	t.Helper()
	for _, tool := range []string{"bash", "jq", "sha256sum"} {
		if _, err := exec.LookPath(tool); err != nil {
			testutils.SkipOrFail(t, "no %s: the action's scripts need it (on Debian: apt-get install %s)", tool, tool)
		}
	}
	d := t.TempDir()
	r := &runner{t: t, home: filepath.Join(d, "home"), temp: filepath.Join(d, "temp"), fakes: filepath.Join(d, "bin"),
		output: filepath.Join(d, "output"), summary: filepath.Join(d, "summary"), env: map[string]string{}}
	for _, dir := range []string{r.home, r.temp, r.fakes} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Debian's archive as apt-cache shows it, with the kernel package
	// FAKE_DEBIAN_KERNEL names: hermetic, and quick.
	r.fake("apt-cache", `case "$1" in
depends) echo "linux-image-amd64"; echo "  Depends: ${FAKE_DEBIAN_KERNEL:-linux-image-6.1.0-57-amd64}" ;;
policy) echo "  Candidate: 6.1.192-3" ;;
show) echo "Package: $2" ;;
esac`)
	return r
}

// fake installs an executable shell script under the fake PATH.
func (r *runner) fake(name, script string) string {
	r.t.Helper()
	p := filepath.Join(r.fakes, name)
	if err := os.WriteFile(p, []byte("#!/usr/bin/env bash\n"+script), 0o755); err != nil {
		r.t.Fatal(err)
	}
	return p
}

// step runs one of the action's scripts as the action does and returns its
// outputs (GITHUB_OUTPUT, which a step appends to) and combined output.
func (r *runner) step(script string, env map[string]string) (map[string]string, string, error) {
	r.t.Helper()
	if err := os.WriteFile(r.output, nil, 0o644); err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command("bash", filepath.Join(repoRoot(r.t), ".github", "action", script))
	cmd.Env = []string{
		"PATH=" + r.fakes + ":" + os.Getenv("PATH"),
		"HOME=" + r.home,
		"RUNNER_TEMP=" + r.temp,
		"GITHUB_OUTPUT=" + r.output,
		"GITHUB_STEP_SUMMARY=" + r.summary,
		"GITHUB_ACTION_PATH=" + repoRoot(r.t),
	}
	for k, v := range r.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	outputs := map[string]string{}
	f, ferr := os.Open(r.output)
	if ferr != nil {
		r.t.Fatal(ferr)
	}
	defer f.Close()
	// NAME=VALUE, or NAME<<DELIMITER, the value's lines, DELIMITER.
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if k, delim, ok := strings.Cut(line, "<<"); ok && !strings.Contains(k, "=") {
			var lines []string
			for sc.Scan() && sc.Text() != delim {
				lines = append(lines, sc.Text())
			}
			outputs[k] = strings.Join(lines, "\n")
		} else if k, v, ok := strings.Cut(line, "="); ok {
			outputs[k] = v
		}
	}
	return outputs, string(out), err
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestShellcheckScripts runs shellcheck on the scripts (actionlint only
// sees the run: lines that call them).
func TestShellcheckScripts(t *testing.T) {
	sc, err := exec.LookPath("shellcheck")
	if err != nil {
		testutils.SkipOrFail(t, "shellcheck not installed (on Debian: apt-get install shellcheck)")
	}
	scripts, _ := filepath.Glob(filepath.Join(repoRoot(t), ".github", "action", "*.sh"))
	if len(scripts) < 6 {
		t.Fatalf("found %d scripts", len(scripts))
	}
	cmd := exec.Command(sc, append([]string{"-x"}, scripts...)...)
	cmd.Dir = filepath.Join(repoRoot(t), ".github", "action")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

// fakeVmtest records each invocation's arguments, one a line, and
// behaves like vmtest as far as the action cares: it writes a result
// directory at --out (with base/ for compare, status completed), a
// manifest on stdout for build, and exits with FAKE_EXIT.
const fakeVmtest = `
log="$FAKE_LOG"; echo "--- $*" >>"$log"; printf '%s\n' "$@" >>"$log"
out=""; prev=""
for a in "$@"; do [ "$prev" = --out ] && out="$a"; prev="$a"; done
if [ "$1" = --help ]; then exit 0; fi
case "$1" in
build) printf '{"bzimage": "/cache/build/kernel-1/bzImage"}\n' ;;
*) mkdir -p "$out"; echo '{"status": "completed", "summary": {"pass": 1}}' >"$out/result.json"
   if [ "$1" = compare ]; then mkdir -p "$out/base"; echo '{"status": "completed"}' >"$out/base/result.json"; echo '# comparison' >"$out/comparison.md"; fi ;;
esac
exit "${FAKE_EXIT:-0}"
`

// invocations splits the fake's log into each call's argument lists.
func invocations(t *testing.T, log string) [][]string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		return nil
	}
	var calls [][]string
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if strings.HasPrefix(line, "--- ") {
			calls = append(calls, nil)
			continue
		}
		calls[len(calls)-1] = append(calls[len(calls)-1], line)
	}
	return calls
}

func TestVmtestStep(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		exit     string
		wantArgv func(cache, out string) []string
		verdict  string
		code     string
	}{
		{"run passes", map[string]string{"VMTEST_COMMAND": "run", "VMTEST_KERNEL": "debian", "VMTEST_ARGS": "--shard 2/4 --case set_tid/*"}, "0",
			func(c, o string) []string {
				return []string{"run", "--cache", c, "--out", o, "--kernel", "debian", "--shard", "2/4", "--case", "set_tid/*"}
			}, "pass", "0"},
		{"run fails: the step still succeeds", map[string]string{"VMTEST_COMMAND": "run", "VMTEST_KERNEL": "k/bzImage"}, "1",
			func(c, o string) []string { return []string{"run", "--cache", c, "--out", o, "--kernel", "k/bzImage"} }, "fail", "1"},
		{"compare regresses", map[string]string{"VMTEST_COMMAND": "compare", "VMTEST_BASE": "build:tree=base", "VMTEST_KERNEL": "build:tree=head", "VMTEST_REUSE_BASE": "false"}, "1",
			func(c, o string) []string {
				return []string{"compare", "--cache", c, "--out", o, "--base", "build:tree=base", "--kernel", "build:tree=head"}
			}, "regressed", "1"},
		{"bad input", map[string]string{"VMTEST_COMMAND": "run"}, "2",
			func(c, o string) []string { return []string{"run", "--cache", c, "--out", o} }, "bad-input", "2"},
		{"infrastructure", map[string]string{"VMTEST_COMMAND": "run", "VMTEST_KERNEL": "debian"}, "3",
			func(c, o string) []string { return []string{"run", "--cache", c, "--out", o, "--kernel", "debian"} }, "infrastructure", "3"},
		{"interrupted", map[string]string{"VMTEST_COMMAND": "run", "VMTEST_KERNEL": "debian"}, "130",
			func(c, o string) []string { return []string{"run", "--cache", c, "--out", o, "--kernel", "debian"} }, "interrupted", "130"},
		{"merge", map[string]string{"VMTEST_COMMAND": "merge", "VMTEST_KERNEL": "ignored", "VMTEST_ARGS": "SHARDS"}, "0",
			func(c, o string) []string { return []string{"merge", "--out", o, "SHARDS"} }, "pass", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t)
			bin := r.fake("vmtest", fakeVmtest)
			log := filepath.Join(r.temp, "log")
			env := map[string]string{"VMTEST_BIN": bin, "FAKE_LOG": log, "FAKE_EXIT": tc.exit}
			for k, v := range tc.env {
				env[k] = v
			}
			var shards []string
			if env["VMTEST_ARGS"] == "SHARDS" {
				// The glob in args is expanded: shards/* is every shard.
				for _, s := range []string{"vmtest-shard-1", "vmtest-shard-2"} {
					shards = append(shards, filepath.Join(r.temp, "shards", s))
					os.MkdirAll(shards[len(shards)-1], 0o755)
				}
				env["VMTEST_ARGS"] = filepath.Join(r.temp, "shards") + "/*"
			}
			outs, log2, err := r.step("vmtest.sh", env)
			if err != nil {
				t.Fatalf("the step failed (%v); it must capture vmtest's exit status:\n%s", err, log2)
			}
			out := filepath.Join(r.temp, "vmtest-"+env["VMTEST_COMMAND"])
			want := tc.wantArgv(filepath.Join(r.home, ".cache", "vmtest"), out)
			if shards != nil {
				want = append(want[:len(want)-1], shards...)
			}
			calls := invocations(t, log)
			if len(calls) != 1 || strings.Join(calls[0], " ") != strings.Join(want, " ") {
				t.Errorf("vmtest ran as %q, want %q", calls, want)
			}
			if outs["exit-code"] != tc.code || outs["verdict"] != tc.verdict || outs["result-dir"] != out {
				t.Errorf("outputs %v, want exit-code %s, verdict %s, result-dir %s", outs, tc.code, tc.verdict, out)
			}
		})
	}
}

func TestVmtestStepRejectsUnknownCommand(t *testing.T) {
	r := newRunner(t)
	bin := r.fake("vmtest", fakeVmtest)
	_, out, err := r.step("vmtest.sh", map[string]string{"VMTEST_BIN": bin, "VMTEST_COMMAND": "test", "FAKE_LOG": filepath.Join(r.temp, "log")})
	if exitCode(err) != 2 || !strings.Contains(out, `command "test": want run, compare, merge or build`) {
		t.Errorf("exit %d, output %q; want exit 2 naming the command", exitCode(err), out)
	}
	if calls := invocations(t, filepath.Join(r.temp, "log")); calls != nil {
		t.Errorf("vmtest ran: %q", calls)
	}
}

// TestVmtestStepReusesBase: a compare keeps its base side in the cache and
// the next compare of the same base gives it as --base; another base, or
// other args, is built afresh.
func TestVmtestStepReusesBase(t *testing.T) {
	r := newRunner(t)
	bin := r.fake("vmtest", fakeVmtest)
	log := filepath.Join(r.temp, "log")
	patch := filepath.Join(r.temp, "base.patch")
	os.WriteFile(patch, []byte("v1"), 0o644)
	base := "build:patch=" + patch
	compare := func(args string) map[string]string {
		outs, out, err := r.step("vmtest.sh", map[string]string{"VMTEST_BIN": bin, "FAKE_LOG": log, "VMTEST_COMMAND": "compare",
			"VMTEST_BASE": base, "VMTEST_KERNEL": "build", "VMTEST_ARGS": args, "VMTEST_OUT": filepath.Join(r.temp, "cmp")})
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return outs
	}
	baseArg := func(call []string) string {
		for i, a := range call {
			if a == "--base" {
				return call[i+1]
			}
		}
		return ""
	}
	steps := []struct {
		args     string
		change   string
		reused   bool
		wantBase func(string) bool
		agent    string // the guest agent beside vmtest changes to this
	}{
		{"", "", false, func(b string) bool { return b == base }, ""},
		{"", "", true, func(b string) bool {
			return strings.HasPrefix(b, filepath.Join(r.home, ".cache", "vmtest", "action-base")+"/")
		}, ""},
		{"--case set_tid/*", "", false, func(b string) bool { return b == base }, ""},
		{"", "v2", false, func(b string) bool { return b == base }, ""},
		{"", "", true, func(b string) bool { return b != base }, ""},
		// A change to the guest agent alone: vmtest's own binary is the
		// same, the base's result is not.
		{"", "", false, func(b string) bool { return b == base }, "agent v2"},
		{"", "", true, func(b string) bool { return b != base }, ""},
	}
	for i, s := range steps {
		if s.change != "" {
			os.WriteFile(patch, []byte(s.change), 0o644)
		}
		if s.agent != "" {
			os.WriteFile(filepath.Join(filepath.Dir(bin), "vmtest-agent"), []byte(s.agent), 0o755)
		}
		outs := compare(s.args)
		calls := invocations(t, log)
		got := baseArg(calls[len(calls)-1])
		if outs["base-reused"] != map[bool]string{true: "true", false: "false"}[s.reused] || !s.wantBase(got) {
			t.Errorf("compare %d (args %q, patch changed %v): base-reused %s, --base %s", i+1, s.args, s.change != "", outs["base-reused"], got)
		}
		if s.reused {
			if _, err := os.Stat(filepath.Join(got, "result.json")); err != nil {
				t.Errorf("compare %d: the reused base has no result.json: %v", i+1, err)
			}
		}
	}
}

func TestBuildStep(t *testing.T) {
	r := newRunner(t)
	bin := r.fake("vmtest", fakeVmtest)
	log := filepath.Join(r.temp, "log")
	outs, out, err := r.step("vmtest.sh", map[string]string{"VMTEST_BIN": bin, "FAKE_LOG": log, "VMTEST_COMMAND": "build", "VMTEST_ARGS": "--tree ."})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "build --cache " + filepath.Join(r.home, ".cache", "vmtest") + " --json --tree ."
	if calls := invocations(t, log); len(calls) != 1 || strings.Join(calls[0], " ") != want {
		t.Errorf("vmtest ran as %q, want %q", calls, want)
	}
	if outs["kernel"] != "/cache/build/kernel-1/bzImage" {
		t.Errorf("kernel output %q, want the manifest's bzimage", outs["kernel"])
	}
}

// TestCacheKey: the key changes with what the kernels are built from and
// only with that; the restore key is its prefix.
func TestCacheKey(t *testing.T) {
	r := newRunner(t)
	patch := filepath.Join(r.temp, "fix.patch")
	key := func(env map[string]string) map[string]string {
		outs, out, err := r.step("cache-key.sh", env)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !strings.HasPrefix(outs["key"], outs["restore-key"]) || outs["key"] == outs["restore-key"] {
			t.Errorf("key %q does not extend restore-key %q", outs["key"], outs["restore-key"])
		}
		if outs["path"] != filepath.Join(r.home, ".cache", "vmtest") {
			t.Errorf("path %q", outs["path"])
		}
		return outs
	}
	os.WriteFile(patch, []byte("one"), 0o644)
	spec := map[string]string{"VMTEST_KERNEL": "build:patch=" + patch}
	first := key(spec)
	if again := key(spec); again["key"] != first["key"] {
		t.Errorf("the same inputs gave keys %q and %q", first["key"], again["key"])
	}
	os.WriteFile(patch, []byte("two"), 0o644)
	if changed := key(spec); changed["key"] == first["key"] {
		t.Errorf("a changed patch kept the key %q", first["key"])
	}
	deb := key(map[string]string{"VMTEST_KERNEL": "debian", "VMTEST_CACHE_KEY": "mine"})
	if !strings.HasPrefix(deb["key"], "mine-") {
		t.Errorf("cache-key prefix not used: %q", deb["key"])
	}
	cache := filepath.Join(r.home, ".cache", "vmtest")
	// Each exclusion beside an inclusion of the same level: actions/cache
	// ignores one below an included directory.
	if want := strings.ReplaceAll("C/*\n!C/initramfs-*\n!C/build\nC/build/*\n!C/build/tree-*", "C", cache); first["paths"] != want {
		t.Errorf("paths %q, want %q", first["paths"], want)
	}
	trees := key(map[string]string{"VMTEST_KERNEL": "debian", "VMTEST_CACHE_KEY": "mine", "VMTEST_CACHE_TREES": "true"})
	if trees["paths"] != cache+"/*\n!"+cache+"/initramfs-*" || trees["key"] == deb["key"] || !strings.HasPrefix(trees["restore-key"], "mine-") {
		t.Errorf("cache-trees: key %q (without: %q), paths %q; want another key and the trees cached", trees["key"], deb["key"], trees["paths"])
	}
	// A new Debian kernel is a new key, so that it is saved once downloaded.
	if next := key(map[string]string{"VMTEST_KERNEL": "debian", "VMTEST_CACHE_KEY": "mine", "FAKE_DEBIAN_KERNEL": "linux-image-6.1.0-58-amd64"}); next["key"] == deb["key"] {
		t.Errorf("a new Debian kernel package kept the key %q", deb["key"])
	}
}

// TestSetupStep: QEMU for anything that boots, the build tools for a build
// spec, nothing for a merge; a missing Debian archive is a clear error.
func TestSetupStep(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      map[string]string
		debian   bool
		want     []string
		notWant  []string
		exit     int
		wantText string
	}{
		{"debian kernel", map[string]string{"VMTEST_COMMAND": "run", "VMTEST_KERNEL": "debian"}, true, []string{"qemu-system-x86"}, []string{"flex"}, 0, ""},
		{"own tree", map[string]string{"VMTEST_COMMAND": "run", "VMTEST_KERNEL": "build:tree=."}, false, []string{"qemu-system-x86", "flex", "libelf-dev"}, nil, 0, ""},
		{"merge", map[string]string{"VMTEST_COMMAND": "merge", "VMTEST_ARGS": "shards/*"}, false, nil, nil, 0, ""},
		{"no Debian archive", map[string]string{"VMTEST_COMMAND": "compare", "VMTEST_KERNEL": "build", "VMTEST_BASE": "debian"}, false, []string{"flex"}, nil, 2, "need Debian's archive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t)
			log := filepath.Join(r.temp, "apt")
			aptGet := r.fake("apt-get", `echo "$*" >>"`+log+`"`)
			show := "exit 1"
			if tc.debian {
				show = "exit 0"
			}
			aptCache := r.fake("apt-cache", show)
			env := map[string]string{"VMTEST_APT_GET": aptGet, "VMTEST_APT_CACHE": aptCache}
			for k, v := range tc.env {
				env[k] = v
			}
			_, out, err := r.step("setup.sh", env)
			if exitCode(err) != tc.exit || !strings.Contains(out, tc.wantText) {
				t.Fatalf("exit %d, want %d, output:\n%s", exitCode(err), tc.exit, out)
			}
			b, _ := os.ReadFile(log)
			if tc.want == nil && len(b) != 0 {
				t.Errorf("apt-get ran: %s", b)
			}
			for _, p := range tc.want {
				if !strings.Contains(string(b), " "+p) {
					t.Errorf("apt-get did not install %s: %s", p, b)
				}
			}
			for _, p := range tc.notWant {
				if strings.Contains(string(b), " "+p) {
					t.Errorf("apt-get installed %s: %s", p, b)
				}
			}
		})
	}
}

func TestKVMStep(t *testing.T) {
	r := newRunner(t)
	udev := filepath.Join(r.temp, "udev")
	r.fake("udevadm", `echo "$*" >>"`+udev+`"`)
	r.fake("sudo", `"$@"`)
	dev := filepath.Join(r.temp, "kvm")
	rules := filepath.Join(r.temp, "99-kvm4all.rules")
	env := map[string]string{"VMTEST_KVM_DEV": dev, "VMTEST_UDEV_RULES": rules}

	outs, out, err := r.step("kvm.sh", env)
	if err != nil || outs["kvm"] != "false" || !strings.Contains(out, "TCG") {
		t.Errorf("no %s: err %v, outputs %v, output %q; want kvm=false and a note", dev, err, outs, out)
	}
	os.WriteFile(dev, nil, 0o666)
	outs, _, err = r.step("kvm.sh", env)
	if err != nil || outs["kvm"] != "true" {
		t.Errorf("usable %s: err %v, outputs %v; want kvm=true", dev, err, outs)
	}
	if _, err := os.Stat(udev); err == nil && os.Geteuid() == 0 {
		// As root the node is writable: no rule is needed.
		t.Errorf("udevadm ran although %s was usable", dev)
	}
	if os.Geteuid() != 0 {
		os.Chmod(dev, 0o444)
		r.step("kvm.sh", env)
		b, _ := os.ReadFile(rules)
		if !strings.Contains(string(b), `KERNEL=="kvm", GROUP="kvm", MODE="0666"`) {
			t.Errorf("no udev rule written for an unwritable %s: %q", dev, b)
		}
	}
}

// writeJSON writes v as path; the fixtures are the real result types, so a
// renamed field breaks the summary's test, not a CI run.
func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSummaryStep(t *testing.T) {
	res := run.Result{Accel: "kvm", Status: run.Completed,
		Summary: map[result.Outcome]int{result.Pass: 2, result.Fail: 1, result.Error: 1, result.Skip: 1},
		Cases: []result.Case{
			{ID: "set_tid/a", Outcome: result.Pass},
			{ID: "set_tid/b", Outcome: result.Fail, Reason: "want EPERM | got 0\nsecond line"},
			{ID: "set_tid/c", Outcome: result.Error, Reason: "WARNING: at kernel/fork.c"},
			{ID: "set_tid/d", Outcome: result.Skip},
		}}
	res.Kernel.Release = "6.1.0-57-amd64"
	crashed := res
	crashed.Status, crashed.StatusDetail, crashed.CrashTitle = run.Status("crashed"), "kernel panic", "BUG: kernel NULL pointer dereference"
	crashed.Cases = nil
	rep := run.RepeatResult{Status: run.Completed, Runs: make([]run.RepeatRun, 3), Flaky: []string{"set_tid/b"},
		Cases: []run.RepeatCase{{ID: "set_tid/a", Passes: 3, Runs: 3}, {ID: "set_tid/b", Passes: 2, Runs: 3, Outcomes: []result.Outcome{result.Pass, result.Fail, result.Pass}}}}
	man := kbuild.Manifest{BzImage: "/c/build/kernel-1/bzImage", BuildSeconds: 61.7, BuiltAt: time.Now()}
	man.Source.Version = "6.1.192"

	for _, tc := range []struct {
		name    string
		files   func(dir string)
		env     map[string]string
		want    []string
		notWant []string
	}{
		{"result.json", func(d string) { writeJSON(t, filepath.Join(d, "result.json"), res) }, nil,
			[]string{"### vmtest run: fail (exit status 1)", "Kernel `6.1.0-57-amd64`, accel kvm, status **completed**",
				"| fail | 1 |", "| pass | 2 |", "| `set_tid/b` | fail | want EPERM \\| got 0 second line |", "| `set_tid/c` | error | WARNING: at kernel/fork.c |"},
			[]string{"set_tid/a`", "set_tid/d`"}},
		{"rows cut", func(d string) { writeJSON(t, filepath.Join(d, "result.json"), res) }, map[string]string{"VMTEST_SUMMARY_ROWS": "1"},
			[]string{"| `set_tid/b` |", "1 more in the uploaded result directory."}, []string{"| `set_tid/c` |"}},
		{"crash", func(d string) { writeJSON(t, filepath.Join(d, "result.json"), crashed) }, nil,
			[]string{"status **crashed**: kernel panic", "Crash: `BUG: kernel NULL pointer dereference`", "No case failed or errored."}, nil},
		{"summary.md first", func(d string) {
			writeJSON(t, filepath.Join(d, "result.json"), res)
			os.WriteFile(filepath.Join(d, "summary.md"), []byte("vmtest's own summary\n"), 0o644)
		}, nil, []string{"vmtest's own summary"}, []string{"| outcome |"}},
		{"comparison.md", func(d string) {
			os.WriteFile(filepath.Join(d, "comparison.md"), []byte("| case | verdict |\n"), 0o644)
		}, map[string]string{"VMTEST_COMMAND": "compare", "VMTEST_VERDICT": "regressed"}, []string{"### vmtest compare: regressed", "| case | verdict |"}, nil},
		{"repeat.json", func(d string) { writeJSON(t, filepath.Join(d, "repeat.json"), rep) }, nil,
			[]string{"3 boots, status **completed**; flaky cases: 1", "| `set_tid/b` | 2/3 | pass, fail, pass |"}, []string{"`set_tid/a`"}},
		{"build manifest", func(d string) { writeJSON(t, filepath.Join(d, "manifest.json"), man) }, map[string]string{"VMTEST_COMMAND": "build", "VMTEST_VERDICT": "pass"},
			[]string{"Built `/c/build/kernel-1/bzImage` (6.1.192, 0 patches, 61 s)"}, nil},
		{"no directory", nil, nil, []string{"vmtest wrote no result directory"}, nil},
		{"cut at the limit", func(d string) {
			os.WriteFile(filepath.Join(d, "summary.md"), []byte(strings.Repeat("x", 5000)), 0o644)
		}, map[string]string{"VMTEST_SUMMARY_LIMIT": "1000"}, []string{"(cut at 1000 bytes"}, []string{strings.Repeat("x", 1001)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRunner(t)
			dir := filepath.Join(r.temp, "result")
			if tc.files != nil {
				os.MkdirAll(dir, 0o755)
				tc.files(dir)
			}
			env := map[string]string{"VMTEST_COMMAND": "run", "VMTEST_RESULT_DIR": dir, "VMTEST_EXIT_CODE": "1", "VMTEST_VERDICT": "fail"}
			for k, v := range tc.env {
				env[k] = v
			}
			// The summary file is appended to: earlier steps' text stays.
			os.WriteFile(r.summary, []byte("earlier step\n"), 0o644)
			if _, out, err := r.step("summary.sh", env); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			b, _ := os.ReadFile(r.summary)
			md := string(b)
			if !strings.HasPrefix(md, "earlier step\n") {
				t.Errorf("the summary replaced what earlier steps wrote:\n%s", md)
			}
			for _, w := range tc.want {
				if !strings.Contains(md, w) {
					t.Errorf("summary lacks %q:\n%s", w, md)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(md, w) {
					t.Errorf("summary has %q:\n%s", w, md)
				}
			}
		})
	}
}

// TestInstallStep: without a version the action's own source is built,
// with one the module at that version is installed, vmtest and its agent
// side by side; both static. Only a version without the agent's package
// installs vmtest alone: any other failure fails the step.
func TestInstallStep(t *testing.T) {
	for _, tc := range []struct {
		version, want string
		agent, fails  bool
	}{
		{"", "build -trimpath -o TEMP/vmtest-bin/ ./cmd/vmtest ./cmd/vmtest-agent in ROOT", true, false},
		{"v0.4.0", "install -trimpath github.com/vmtest/vmtest/cmd/vmtest@v0.4.0 github.com/vmtest/vmtest/cmd/vmtest-agent@v0.4.0 in", true, false},
		// Before the agent had a binary of its own: vmtest alone.
		{"v0.3.0", "install -trimpath github.com/vmtest/vmtest/cmd/vmtest@v0.3.0 in", false, false},
		// The network, say: not retried without the agent.
		{"v0.9.9", "install -trimpath github.com/vmtest/vmtest/cmd/vmtest@v0.9.9 github.com/vmtest/vmtest/cmd/vmtest-agent@v0.9.9 in", false, true},
	} {
		r := newRunner(t)
		log := filepath.Join(r.temp, "go")
		r.fake("go", `echo "$* in $PWD CGO_ENABLED=$CGO_ENABLED GOBIN=${GOBIN:-}" >>"`+log+`"
case "$*" in *vmtest-agent@v0.3.0*) echo "go: module github.com/vmtest/vmtest@v0.3.0 found, but does not contain package github.com/vmtest/vmtest/cmd/vmtest-agent" >&2; exit 1 ;; esac
case "$*" in *@v0.9.9*) echo "go: network unreachable" >&2; exit 1 ;; esac
dir="${GOBIN:-}/"; [ "$1" = build ] && dir="$4"
mkdir -p "$dir"; printf '#!/bin/sh\nexit 0\n' >"$dir/vmtest"; chmod +x "$dir/vmtest"
case "$*" in *vmtest-agent*) cp "$dir/vmtest" "$dir/vmtest-agent" ;; esac`)
		outs, out, err := r.step("install.sh", map[string]string{"VMTEST_VERSION": tc.version})
		b, _ := os.ReadFile(log)
		want := strings.NewReplacer("TEMP", r.temp, "ROOT", repoRoot(t)).Replace(tc.want)
		if !strings.Contains(string(b), want) || !strings.Contains(string(b), "CGO_ENABLED=0") {
			t.Errorf("version %q: go ran as %q, want %q with CGO_ENABLED=0", tc.version, b, want)
		}
		if tc.fails {
			if err == nil || strings.Count(string(b), "install") != 1 {
				t.Errorf("version %q: the step passed (%v) or retried without the agent; go ran as %q", tc.version, err, b)
			}
			continue
		}
		if err != nil {
			t.Fatalf("version %q: %v\n%s", tc.version, err, out)
		}
		if outs["bin"] != filepath.Join(r.temp, "vmtest-bin", "vmtest") {
			t.Errorf("version %q: bin %q", tc.version, outs["bin"])
		}
		if _, err := os.Stat(filepath.Join(r.temp, "vmtest-bin", "vmtest-agent")); (err == nil) != tc.agent {
			t.Errorf("version %q: vmtest-agent beside vmtest: %v, want %v", tc.version, err == nil, tc.agent)
		}
	}
}

// TestVmtestStepPrunesBases: saving a base keeps the ten newest.
func TestVmtestStepPrunesBases(t *testing.T) {
	r := newRunner(t)
	bin := r.fake("vmtest", fakeVmtest)
	bases := filepath.Join(r.home, ".cache", "vmtest", "action-base")
	for i := range 12 {
		d := filepath.Join(bases, fmt.Sprintf("old-%02d", i))
		os.MkdirAll(d, 0o755)
		old := time.Now().Add(-time.Duration(12-i) * time.Hour)
		os.Chtimes(d, old, old)
	}
	outs, out, err := r.step("vmtest.sh", map[string]string{"VMTEST_BIN": bin, "FAKE_LOG": filepath.Join(r.temp, "log"),
		"VMTEST_COMMAND": "compare", "VMTEST_BASE": "build", "VMTEST_KERNEL": "build"})
	if err != nil || outs["base-reused"] != "false" {
		t.Fatalf("%v %v\n%s", err, outs, out)
	}
	ents, _ := os.ReadDir(bases)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if len(names) != 10 || slices.Contains(names, "old-02") || !slices.Contains(names, "old-03") || !slices.Contains(names, "old-11") {
		t.Errorf("kept %q; want the new base and old-03 … old-11", names)
	}
}
