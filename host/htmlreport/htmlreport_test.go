package htmlreport

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/host/compare"
	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/result"
)

func load(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile("../formats/testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func crashedRun(t *testing.T) *run.Result {
	var r run.Result
	load(t, "run-warn.json", &r)
	r.Status, r.StatusDetail = run.Crashed, "BUG: kernel NULL pointer dereference"
	r.Crash = "[    2.5] BUG: kernel NULL pointer dereference, address: 0000000000000000\n[    2.5] RIP: copy_process+0x1/0x2 <script>alert(1)</script>"
	r.Cases = append(r.Cases, result.Case{ID: "set_tid/x/never", Group: "x", Outcome: result.Error, Reason: "not run: crashed"})
	return &r
}

func comparisonPage(t *testing.T) ComparePage {
	var c struct {
		Base, Patched struct {
			Source string
			Build  *kbuild.Manifest
			Result *run.Result
		}
		Cases []compare.Case
	}
	load(t, "comparison.json", &c)
	var m kbuild.Manifest
	load(t, "manifest.json", &m)
	// One regression turns out flaky on re-run: the round gives every
	// other case its first outcome.
	round := map[string]result.Outcome{}
	for _, pc := range c.Patched.Result.Cases {
		round[pc.ID] = pc.Outcome
	}
	round["clone3/plain/into-cgroup"] = result.Pass
	cs := compare.Confirm(c.Cases, []compare.Rerun{{Patched: round}})
	return ComparePage{
		Base:    ComparedSide{Label: "base", Source: c.Base.Source, Result: c.Base.Result},
		Patched: ComparedSide{Label: "patched", Source: c.Patched.Source, Result: c.Patched.Result, Build: &m},
		Cases:   cs, ConfirmRounds: 1,
	}
}

// The page is self-contained and escapes what the kernel wrote.
func TestSelfContained(t *testing.T) {
	var b bytes.Buffer
	if err := Run(&b, RunPage{Result: crashedRun(t)}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"[a-z]+://|@import|url\(`).FindString(page); m != "" {
		t.Errorf("page loads something from outside: %q", m)
	}
	if strings.Contains(page, "<script>alert(1)</script>") {
		t.Error("the crash excerpt's markup reached the page unescaped")
	}
	for _, want := range []string{"BUG: kernel NULL pointer dereference", "qemu-system-x86_64", "crashed", "not run: crashed", "WARNING: at kernel/fork.c:2953"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// chromium finds a headless Chromium (Debian's package chromium).
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium (apt-get install chromium): the rendered-page checks are skipped")
	return ""
}

// dumpDOM loads the page with a filter in its fragment and returns the
// DOM after the filter script ran.
func dumpDOM(t *testing.T, browser, file, fragment string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://"+file+fragment)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	return string(out)
}

var (
	rowRe   = regexp.MustCompile(`<tr data-state="([a-z-]+)"[^>]*>`)
	shownRe = regexp.MustCompile(`id="shown">(\d+) of (\d+) cases shown`)
)

// visible returns the states of the rows the filter left visible.
func visible(dom string) []string {
	var states []string
	for _, m := range rowRe.FindAllStringSubmatch(dom, -1) {
		if !strings.Contains(m[0], "hidden") {
			states = append(states, m[1])
		}
	}
	return states
}

func TestRenderedFilters(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the headless Chromium checks take about 20 s")
	}
	browser := chromium(t)
	dir := t.TempDir()
	write := func(name string, render func(*bytes.Buffer) error) string {
		var b bytes.Buffer
		if err := render(&b); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	crashed := crashedRun(t)
	runPage := write("run.html", func(b *bytes.Buffer) error {
		return Run(b, RunPage{Result: crashed, Flaky: map[string]string{crashed.Cases[0].ID: "pass error"}})
	})
	cmp := comparisonPage(t)
	cmpPage := write("cmp.html", func(b *bytes.Buffer) error { return Comparison(b, cmp) })

	errors := 0
	for _, c := range crashed.Cases {
		if c.Outcome == result.Error {
			errors++
		}
	}
	tests := []struct {
		name, file, fragment string
		wantN                int
		wantState            string // every visible row has it ("" = any)
		wantIn               []string
	}{
		{"run: all rows", runPage, "", len(crashed.Cases), "", []string{"Crash excerpt", "NULL pointer dereference", "flaky: pass error"}},
		{"run: errors only", runPage, "#state=error", errors, "error", nil},
		{"run: text filter", runPage, "#q=never", 1, "error", nil},
		{"run: flaky", runPage, "#state=flaky", 1, "", nil},
		{"comparison: regressions", cmpPage, "#state=regressed", len(compare.Regressions(cmp.Cases)), "regressed", []string{"pid: check set_tid privilege", "patched saw"}},
		{"comparison: flaky", cmpPage, "#state=flaky", 1, "flaky", []string{"patched: skip pass"}},
		{"comparison: all but unchanged", cmpPage, "#state=notpass", len(cmp.Cases) - compare.Count(cmp.Cases)[compare.UnchangedPass], "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkFiltered(t, dumpDOM(t, browser, tc.file, tc.fragment), shownRe, filterWant{
				n: tc.wantN, state: tc.wantState, in: tc.wantIn,
				hiddenUnderNotpass: string(compare.UnchangedPass), notpass: tc.fragment == "#state=notpass",
			})
		})
	}
}

// filterWant is what a filtered report page must show.
type filterWant struct {
	n     int      // visible rows
	state string   // every visible row's state ("" = any)
	in    []string // text the rendered page holds
	// notpass: the fragment is #state=notpass, under which no row in
	// state hiddenUnderNotpass may show.
	notpass            bool
	hiddenUnderNotpass string
}

// checkFiltered checks a rendered, filtered page (dom) against w: the
// visible rows, their states, the "N of M shown" counter the page's
// script writes (counter), and the text the page must hold.
func checkFiltered(t *testing.T, dom string, counter *regexp.Regexp, w filterWant) {
	t.Helper()
	states := visible(dom)
	if len(states) != w.n {
		t.Errorf("%d rows visible, want %d", len(states), w.n)
	}
	for _, s := range states {
		if w.state != "" && s != w.state {
			t.Errorf("visible row in state %s, want only %s", s, w.state)
		}
		if w.notpass && s == w.hiddenUnderNotpass {
			t.Errorf("a row in state %s is visible under #state=notpass", s)
		}
	}
	if m := counter.FindStringSubmatch(dom); m == nil || m[1] != strconv.Itoa(w.n) {
		t.Errorf("counter says %v, want %d shown (the script did not run?)", m, w.n)
	}
	for _, s := range w.in {
		if !strings.Contains(dom, s) {
			t.Errorf("rendered page lacks %q", s)
		}
	}
}
