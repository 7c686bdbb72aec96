// Package kcidb writes vmtest results in KernelCI's KCIDB I/O format,
// schema v5 (kcidb-io's v5.3), so that a run can be submitted to the
// common kernel test database or read by its tools: a checkout (the
// source and patches that were tested), a build (the kernel image, with
// the manifest of a `vmtest build` when there is one) and a test per case.
//
// The schema allows no property it does not define and no null, so what
// vmtest knows beyond it goes under each object's "misc". IDs are
// "ORIGIN:..." with an origin the caller chooses (a CI system's name), and
// test paths are dotted ("vmtest.set_tid.nested.3-levels-explicit").
package kcidb

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/vmtest/vmtest/host/kbuild"
	"github.com/vmtest/vmtest/host/run"
	"github.com/vmtest/vmtest/internal/result"
)

// The schema version written: major 5, minor 3 (kcidb-io v5.3).
const (
	Major = 5
	Minor = 3
)

// DefaultOrigin is the origin used when the caller gives none.
const DefaultOrigin = "vmtest"

// PathRoot is the first component of every test path.
const PathRoot = "vmtest"

// The statuses of the schema, highest priority first.
const (
	StatusFail  = "FAIL"
	StatusError = "ERROR"
	StatusMiss  = "MISS"
	StatusPass  = "PASS"
	StatusDone  = "DONE"
	StatusSkip  = "SKIP"
)

// LogExcerptMax is the schema's limit on log_excerpt, in characters.
const LogExcerptMax = 16384

// Data is the document (kcidb.json).
type Data struct {
	Version   Version    `json:"version"`
	Checkouts []Checkout `json:"checkouts"`
	Builds    []Build    `json:"builds"`
	Tests     []Test     `json:"tests"`
}

// Version is the schema version of the document.
type Version struct {
	Major int `json:"major"`
	Minor int `json:"minor"`
}

// Checkout is the source that was tested.
type Checkout struct {
	ID           string         `json:"id"`
	Origin       string         `json:"origin"`
	TreeName     string         `json:"tree_name,omitempty"`
	PatchsetHash *string        `json:"patchset_hash,omitempty"`
	Comment      string         `json:"comment,omitempty"`
	StartTime    string         `json:"start_time,omitempty"`
	Valid        *bool          `json:"valid,omitempty"`
	Misc         map[string]any `json:"misc,omitempty"`
}

// Build is the kernel image that was booted.
type Build struct {
	ID           string         `json:"id"`
	CheckoutID   string         `json:"checkout_id"`
	Origin       string         `json:"origin"`
	Comment      string         `json:"comment,omitempty"`
	StartTime    string         `json:"start_time,omitempty"`
	Duration     *float64       `json:"duration,omitempty"`
	Architecture string         `json:"architecture,omitempty"`
	Compiler     string         `json:"compiler,omitempty"`
	ConfigName   string         `json:"config_name,omitempty"`
	Status       string         `json:"status,omitempty"`
	Misc         map[string]any `json:"misc,omitempty"`
}

// Test is one test run: a case, or the boot itself.
type Test struct {
	ID          string         `json:"id"`
	BuildID     string         `json:"build_id"`
	Origin      string         `json:"origin"`
	Path        string         `json:"path"`
	Comment     string         `json:"comment,omitempty"`
	Status      string         `json:"status"`
	LogExcerpt  string         `json:"log_excerpt,omitempty"`
	StartTime   string         `json:"start_time,omitempty"`
	Duration    *float64       `json:"duration,omitempty"`
	Environment *Environment   `json:"environment,omitempty"`
	Misc        map[string]any `json:"misc,omitempty"`
}

// Environment is where a test ran.
type Environment struct {
	Comment string         `json:"comment,omitempty"`
	Misc    map[string]any `json:"misc,omitempty"`
}

// Run is one run to describe: its result, the build manifest when the
// kernel was built by vmtest, and a label that tells apart the runs of
// one document (a comparison's "base" and "patched"; "" for a lone run).
type Run struct {
	Label  string
	Result *run.Result
	Build  *kbuild.Manifest
	// Flaky maps a case ID to how its outcome varied ("pass fail"), for
	// cases known to be flaky.
	Flaky map[string]string
}

// Options are the document-wide settings.
type Options struct {
	// Origin names the CI system submitting ("vmtest" when empty); it
	// must be lowercase letters, digits and underscores.
	Origin string
}

var (
	originRe = regexp.MustCompile(`^[a-z0-9_]+$`)
	// pathPartRe is one component of a test path (schema v5).
	pathPartRe = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)
)

// CheckOrigin reports whether origin is usable, with the reason when not.
func CheckOrigin(origin string) error {
	if !originRe.MatchString(origin) {
		return fmt.Errorf("KCIDB origin %q: use lowercase letters, digits and underscores only (e.g. \"my_ci\")", origin)
	}
	return nil
}

// Encode builds the document for one or more runs. Runs of the same
// kernel share its checkout and build.
func Encode(runs []Run, o Options) (*Data, error) {
	origin := o.Origin
	if origin == "" {
		origin = DefaultOrigin
	}
	if err := CheckOrigin(origin); err != nil {
		return nil, err
	}
	d := &Data{Version: Version{Major: Major, Minor: Minor}, Checkouts: []Checkout{}, Builds: []Build{}, Tests: []Test{}}
	seenCheckout, seenBuild := map[string]bool{}, map[string]bool{}
	for _, r := range runs {
		if r.Result == nil {
			return nil, errors.New("kcidb: a run without a result")
		}
		co := checkout(origin, r)
		if !seenCheckout[co.ID] {
			seenCheckout[co.ID] = true
			d.Checkouts = append(d.Checkouts, co)
		}
		b := build(origin, co.ID, r)
		if !seenBuild[b.ID] {
			seenBuild[b.ID] = true
			d.Builds = append(d.Builds, b)
		}
		d.Tests = append(d.Tests, tests(origin, b.ID, r)...)
	}
	return d, nil
}

// PatchsetHash is the schema's patchset hash: the sha256 of the patches'
// sha256 hashes, each newline-terminated, in order of application; ""
// for no patches.
func PatchsetHash(patches []kbuild.PatchInfo) string {
	if len(patches) == 0 {
		return ""
	}
	h := sha256.New()
	for _, p := range patches {
		fmt.Fprintf(h, "%s\n", p.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// checkout identifies the source: for a vmtest build, the tree's identity
// and the patchset; for a prebuilt image, whose source vmtest cannot see,
// the image itself stands for it.
func checkout(origin string, r Run) Checkout {
	res := r.Result
	if m := r.Build; m != nil {
		ps := PatchsetHash(m.Patches)
		var patches []map[string]any
		for _, p := range m.Patches {
			patches = append(patches, map[string]any{"index": p.Index, "path": p.Path, "sha256": p.SHA256, "subject": p.Subject})
		}
		misc := map[string]any{"source_path": m.Source.Path, "source_identity": m.Source.Identity, "source_version": m.Source.Version}
		if patches != nil {
			misc["patches"] = patches
		}
		valid := true // the patches applied: the build exists
		comment := "Linux " + m.Source.Version
		if len(m.Patches) > 0 {
			comment += fmt.Sprintf(" with %d patch(es): %s", len(m.Patches), m.Patches[len(m.Patches)-1].Subject)
		}
		return Checkout{
			ID: origin + ":checkout-" + shortHash(m.Source.Identity+"\n"+ps), Origin: origin,
			PatchsetHash: &ps, Comment: comment, Valid: &valid, Misc: misc,
		}
	}
	return Checkout{
		ID: origin + ":checkout-image-" + shortHash(res.Kernel.SHA256), Origin: origin,
		Comment: "prebuilt kernel " + res.Kernel.Release + " (source not known to vmtest)",
		Misc:    map[string]any{"kernel_version": res.Kernel.Version, "kernel_path": res.Kernel.Path},
	}
}

// build describes the image: its sha256 names it, so the same image is
// the same build whichever run booted it.
func build(origin, checkoutID string, r Run) Build {
	res := r.Result
	b := Build{
		ID: origin + ":build-" + shortHash(res.Kernel.SHA256), CheckoutID: checkoutID, Origin: origin,
		Architecture: "x86_64", Comment: "Linux " + res.Kernel.Release,
		Misc: map[string]any{"kernel_sha256": res.Kernel.SHA256, "kernel_path": res.Kernel.Path, "kernel_version": res.Kernel.Version},
	}
	if m := r.Build; m != nil {
		dur := m.BuildSeconds
		b.Duration = &dur
		if !m.BuiltAt.IsZero() {
			b.StartTime = timestamp(m.BuiltAt.Add(-time.Duration(dur * float64(time.Second))))
		}
		b.Compiler = m.Toolchain
		b.ConfigName = m.Base
		var frags []string
		for _, f := range m.Fragments {
			frags = append(frags, f.Path)
		}
		if len(frags) > 0 {
			b.ConfigName += " + " + strings.Join(frags, " + ")
		}
		b.Status = StatusPass
		b.Misc["build_key"] = m.Key
		b.Misc["config_sha256"] = m.ConfigSHA256
		b.Misc["build_log"] = m.Log
	}
	return b
}

// tests is the boot test (vmtest.boot: did the VM finish its run) and one
// test per case.
func tests(origin, buildID string, r Run) []Test {
	res := r.Result
	start := timestamp(res.Timings.StartedAt)
	env := &Environment{
		Comment: "QEMU under " + strings.ToUpper(res.Accel),
		Misc:    map[string]any{"accel": res.Accel, "qemu_cmdline": res.QEMU.Cmdline},
	}
	if res.AccelWarning != "" {
		env.Misc["accel_warning"] = res.AccelWarning
	}
	idPrefix := origin + ":" + res.RunID
	if r.Label != "" {
		idPrefix += ":" + r.Label
	}
	bootDur := res.Timings.TotalMS / 1000
	boot := Test{
		ID: idPrefix + ":boot", BuildID: buildID, Origin: origin, Path: PathRoot + ".boot",
		Comment: "boot the kernel and run the matrix to its done record", Status: bootStatus(res.Status),
		LogExcerpt: excerpt(strings.TrimSpace(strings.Join(nonEmpty(res.StatusDetail, res.Crash), "\n"))),
		StartTime:  start, Duration: &bootDur, Environment: env,
		Misc: map[string]any{"run_id": res.RunID, "status": string(res.Status), "crash_title": res.CrashTitle},
	}
	if res.CrashTitle == "" {
		delete(boot.Misc, "crash_title")
	}
	out := []Test{boot}
	for _, c := range res.Cases {
		dur := c.DurationMS / 1000
		misc := map[string]any{"case_id": c.ID, "outcome": string(c.Outcome)}
		if c.Expected != nil {
			misc["expected"] = c.Expected.String()
		}
		if c.Observed != nil {
			misc["observed"] = c.Observed.String()
		}
		if c.Reason != "" {
			misc["reason"] = c.Reason
		}
		if f := r.Flaky[c.ID]; f != "" {
			misc["flaky"] = f
		}
		t := Test{
			ID: idPrefix + ":" + c.ID, BuildID: buildID, Origin: origin, Path: CasePath(c.ID),
			Comment: c.Rule, Status: Status(c), LogExcerpt: excerpt(caseLog(c)),
			StartTime: start, Duration: &dur, Environment: env, Misc: misc,
		}
		out = append(out, t)
	}
	return out
}

// CasePath is the dotted test path of a case ID: "set_tid/nested/x" is
// "vmtest.set_tid.nested.x". Characters a path component cannot hold
// become "_", and empty components are dropped.
func CasePath(id string) string {
	parts := []string{PathRoot}
	for _, p := range strings.FieldsFunc(id, func(r rune) bool { return r == '/' || r == '.' }) {
		if p = pathPartRe.ReplaceAllString(p, "_"); p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, ".")
}

// Status maps a case's outcome to the schema: a case the harness never
// ran (the VM crashed or was stopped first) is MISS; any other error is
// ERROR, because the case did not complete and says nothing about the
// kernel's answer; never FAIL, which is a wrong answer from the kernel.
func Status(c result.Case) string {
	switch c.Outcome {
	case result.Pass:
		return StatusPass
	case result.Fail:
		return StatusFail
	case result.Skip, result.Unsupported:
		return StatusSkip
	case result.Error:
		if strings.HasPrefix(c.Reason, "not run") {
			return StatusMiss
		}
		return StatusError
	}
	return StatusError
}

// bootStatus judges the boot: a kernel that crashed failed (that is the
// tested code at fault); a VM that was interrupted or never started is
// a harness problem (MISS); a timeout or a lost done record is ERROR,
// since it cannot tell the kernel from the harness.
func bootStatus(s run.Status) string {
	switch s {
	case run.Completed:
		return StatusPass
	case run.Crashed:
		return StatusFail
	case run.Interrupted, run.QEMUFailed:
		return StatusMiss
	}
	return StatusError
}

func caseLog(c result.Case) string {
	var l []string
	if c.Expected != nil {
		l = append(l, "expected: "+c.Expected.String())
	}
	if c.Observed != nil {
		l = append(l, "observed: "+c.Observed.String())
	}
	if c.Reason != "" {
		l = append(l, "reason: "+c.Reason)
	}
	if c.Info != "" {
		l = append(l, "info: "+c.Info)
	}
	return strings.Join(l, "\n")
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// excerpt keeps a log within the schema's limit, keeping its end (where a
// crash report's cause is) and dropping NULs, which no string may hold.
func excerpt(s string) string {
	s = strings.ReplaceAll(s, "\x00", "")
	r := []rune(s)
	if len(r) > LogExcerptMax {
		r = append([]rune("…"), r[len(r)-LogExcerptMax+1:]...)
	}
	return string(r)
}

// timestamp is RFC 3339 (the schema's date-time), "" for the zero time.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:8])
}
