// Package ktap writes and reads the subset of KTAP (the kernel's test
// output format, Documentation/dev-tools/ktap.rst) that vmtest streams from
// the guest agent to the host over a serial port.
//
// Each case is one test line ("ok N id" / "not ok N id"), with SKIP and
// ERROR directives for outcomes that are neither pass nor fail. A
// diagnostic line before it carries the rest of the case's result as
// compact JSON (answers, reason, duration), so the stream stays valid KTAP
// for any KTAP reader while vmtest loses nothing. The stream ends with a
// done record: without it the host cannot tell a finished run from a guest
// that died mid-way.
//
// A port channel (the debug port or the UART, where the shared-memory one
// is missing) costs the guest microseconds per byte under TCG, as much as
// several cases' work for a verbose record, so the record says
// nothing the test line already says or the host already knows: not the
// ID, outcome, group or rule, and the expectation only when it is not
// the observation itself.
package ktap

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/vmtest/vmtest/internal/result"
)

const (
	versionLine = "KTAP version 1"
	casePrefix  = "# vmtest-case "
	donePrefix  = "# vmtest-done "
	infoPrefix  = "# vmtest-info "
	// unsupportedTag starts the SKIP reason of unsupported cases, which
	// KTAP has no directive for.
	unsupportedTag = "unsupported: "
)

// Writer emits a KTAP stream. It is not safe for concurrent use.
type Writer struct {
	w   *bufio.Writer
	n   int
	err error
	buf []byte // reused for each case's lines
}

// NewWriter starts a stream on w with the version line and the plan.
func NewWriter(w io.Writer, plan int) *Writer {
	kw := &Writer{w: bufio.NewWriter(w)}
	kw.printf("%s\n1..%d\n", versionLine, plan)
	return kw
}

func (kw *Writer) printf(format string, args ...any) {
	kw.write(fmt.Appendf(kw.buf[:0], format, args...))
}

func (kw *Writer) write(b []byte) {
	if kw.err != nil {
		return
	}
	if _, err := kw.w.Write(b); err != nil {
		kw.err = err
		return
	}
	kw.err = kw.w.Flush()
}

// Info writes a key/value diagnostic the host records for the whole run
// (kernel version, pid_max, features found).
func (kw *Writer) Info(key, value string) error {
	kw.printf("%s%s=%s\n", infoPrefix, key, oneLine(value))
	return kw.err
}

// record is the diagnostic line before a test line: what the test line
// does not carry. N is the test number, so that a record is never given
// to another case's line.
type record struct {
	N        int            `json:"n"`
	Expected *result.Answer `json:"e,omitempty"`
	// Same says the expectation is exactly the observation (every errno
	// case that passes, and more): it is then sent once.
	Same     bool           `json:"same,omitempty"`
	Observed *result.Answer `json:"o,omitempty"`
	// Reason is sent when the test line's directive does not carry it
	// verbatim (fail and pass lines have none; others fold newlines).
	Reason     string  `json:"r,omitempty"`
	Info       string  `json:"i,omitempty"`
	DurationMS float64 `json:"ms"`
}

// Case writes one case's result as a diagnostic plus a test line. Group
// and rule are not sent: they come from the matrix, which the host has.
func (kw *Writer) Case(c result.Case) error {
	r := record{N: kw.n + 1, Expected: c.Expected, Observed: c.Observed, Info: c.Info, DurationMS: c.DurationMS}
	if c.Expected != nil && c.Observed != nil && answersEqual(*c.Expected, *c.Observed) {
		r.Expected, r.Same = nil, true
	}
	if c.Outcome == result.Pass || c.Outcome == result.Fail || oneLine(c.Reason) != c.Reason {
		r.Reason = c.Reason
	}
	b := append(kw.buf[:0], casePrefix...)
	b, err := appendRecord(b, r)
	if err != nil {
		return fmt.Errorf("encode case %s: %w", c.ID, err)
	}
	kw.n++
	b = append(b, '\n')
	b = append(b, TestLine(kw.n, c)...)
	b = append(b, '\n')
	kw.buf = b
	kw.write(b)
	return kw.err
}

func answersEqual(a, b result.Answer) bool {
	return a.Errno == b.Errno && a.PID == b.PID && a.Note == b.Note && slices.Equal(a.NSpid, b.NSpid)
}

// appendRecord appends r as JSON that decodes to what encoding/json's
// encoding of r decodes to (the same bytes but for the HTML characters
// <, > and &, which encoding/json escapes and this leaves alone). It is written out by hand because the agent encodes
// a record per case under TCG, where encoding/json's reflection costs
// about 0.2 ms a record.
func appendRecord(b []byte, r record) ([]byte, error) {
	if math.IsNaN(r.DurationMS) || math.IsInf(r.DurationMS, 0) {
		return b, fmt.Errorf("duration %v is not a JSON number", r.DurationMS)
	}
	b = append(b, `{"n":`...)
	b = strconv.AppendInt(b, int64(r.N), 10)
	if r.Expected != nil {
		b = append(b, `,"e":`...)
		b = appendAnswer(b, *r.Expected)
	}
	if r.Same {
		b = append(b, `,"same":true`...)
	}
	if r.Observed != nil {
		b = append(b, `,"o":`...)
		b = appendAnswer(b, *r.Observed)
	}
	if r.Reason != "" {
		b = append(b, `,"r":`...)
		b = appendString(b, r.Reason)
	}
	if r.Info != "" {
		b = append(b, `,"i":`...)
		b = appendString(b, r.Info)
	}
	b = append(b, `,"ms":`...)
	// Plain decimals, exponents only for the very small or large: what
	// encoding/json writes.
	format := byte('f')
	if abs := math.Abs(r.DurationMS); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, r.DurationMS, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1] // e-07 → e-7
		b = b[:n-1]
	}
	return append(b, '}'), nil
}

// appendAnswer appends a as encoding/json would (see result.Answer's tags).
func appendAnswer(b []byte, a result.Answer) []byte {
	b = append(b, '{')
	sep := func() {
		if b[len(b)-1] != '{' {
			b = append(b, ',')
		}
	}
	if a.Errno != "" {
		b = append(b, `"errno":`...)
		b = appendString(b, a.Errno)
	}
	if a.PID != 0 {
		sep()
		b = append(b, `"pid":`...)
		b = strconv.AppendInt(b, int64(a.PID), 10)
	}
	if len(a.NSpid) > 0 {
		sep()
		b = append(b, `"nspid":[`...)
		for i, p := range a.NSpid {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendInt(b, int64(p), 10)
		}
		b = append(b, ']')
	}
	if a.Note != "" {
		sep()
		b = append(b, `"note":`...)
		b = appendString(b, a.Note)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string. Bytes of 0x80 and above pass
// through: what the agent writes is UTF-8 (and a decoder replaces any
// invalid sequence rather than failing).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// Done writes the done record: every case the plan promised was reported.
func (kw *Writer) Done() error {
	kw.printf("%s%d\n", donePrefix, kw.n)
	return kw.err
}

// TestLine renders the KTAP test line for case number n.
func TestLine(n int, c result.Case) string {
	reason := oneLine(c.Reason)
	switch c.Outcome {
	case result.Pass:
		return fmt.Sprintf("ok %d %s", n, c.ID)
	case result.Skip:
		return fmt.Sprintf("ok %d %s # SKIP %s", n, c.ID, reason)
	case result.Unsupported:
		return fmt.Sprintf("ok %d %s # SKIP %s%s", n, c.ID, unsupportedTag, reason)
	case result.Error:
		return fmt.Sprintf("not ok %d %s # ERROR %s", n, c.ID, reason)
	default:
		return fmt.Sprintf("not ok %d %s", n, c.ID)
	}
}

// TestLineID returns the case ID of a KTAP test line ("ok 3 id",
// "not ok 4 id # ERROR ..."); ok is false for any other line.
func TestLineID(line string) (id string, ok bool) {
	rest, found := strings.CutPrefix(line, "ok ")
	if !found {
		if rest, found = strings.CutPrefix(line, "not ok "); !found {
			return "", false
		}
	}
	f := strings.Fields(rest)
	if len(f) < 2 {
		return "", false
	}
	if _, err := strconv.Atoi(f[0]); err != nil {
		return "", false
	}
	return f[1], true
}

func oneLine(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", " | ") }

// Event is one thing the parser recognised in the stream.
type Event struct {
	Kind EventKind
	// Plan is the number of cases announced (KindPlan).
	Plan int
	// Case is set for KindCase.
	Case result.Case
	// Key and Value are set for KindInfo.
	Key, Value string
	// Count is the number of cases the done record claims (KindDone).
	Count int
}

// EventKind tells events apart.
type EventKind int

// The event kinds.
const (
	KindVersion EventKind = iota + 1
	KindPlan
	KindInfo
	KindCase
	KindDone
)

// Parser turns lines of a KTAP stream into events. Serial consoles add
// carriage returns and the kernel may interleave noise before the version
// line; both are tolerated. It is fed line by line so the host can show
// progress while the guest runs.
type Parser struct {
	started bool
	pending *record
	// Cases collects every case seen so far, in stream order.
	Cases []result.Case
	// Plan is the announced number of cases, -1 before the plan line.
	Plan int
	// Done is set once the done record has been seen.
	Done bool
	// Info collects the run-level diagnostics.
	Info map[string]string
}

// NewParser returns a parser awaiting the version line.
func NewParser() *Parser { return &Parser{Plan: -1, Info: map[string]string{}} }

// Feed parses one line (with or without its line ending). It returns the
// event the line produced, if any, and an error for a malformed line inside
// the stream; the parser stays usable after an error.
func (p *Parser) Feed(line string) (*Event, error) {
	line = strings.TrimRight(line, "\r\n")
	line = strings.TrimLeft(line, "\r")
	if !p.started {
		if line == versionLine {
			p.started = true
			return &Event{Kind: KindVersion}, nil
		}
		return nil, nil // noise before the stream starts
	}
	switch {
	case strings.HasPrefix(line, "1.."):
		n, err := strconv.Atoi(strings.TrimPrefix(line, "1.."))
		if err != nil {
			return nil, fmt.Errorf("bad plan line %q", line)
		}
		p.Plan = n
		return &Event{Kind: KindPlan, Plan: n}, nil
	case strings.HasPrefix(line, casePrefix):
		var r record
		if err := json.Unmarshal([]byte(strings.TrimPrefix(line, casePrefix)), &r); err != nil {
			return nil, fmt.Errorf("bad case record %q: %w", line, err)
		}
		p.pending = &r
		return nil, nil
	case strings.HasPrefix(line, infoPrefix):
		k, v, _ := strings.Cut(strings.TrimPrefix(line, infoPrefix), "=")
		p.Info[k] = v
		return &Event{Kind: KindInfo, Key: k, Value: v}, nil
	case strings.HasPrefix(line, donePrefix):
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, donePrefix)))
		if err != nil {
			return nil, fmt.Errorf("bad done record %q", line)
		}
		p.Done = true
		return &Event{Kind: KindDone, Count: n}, nil
	case strings.HasPrefix(line, "ok ") || strings.HasPrefix(line, "not ok "):
		c, err := p.testLine(line)
		if err != nil {
			return nil, err
		}
		p.Cases = append(p.Cases, c)
		return &Event{Kind: KindCase, Case: c}, nil
	}
	return nil, nil // other diagnostics and unknown lines are allowed by KTAP
}

// testLine decodes a test line, preferring the structured record that
// preceded it when it names the same case.
func (p *Parser) testLine(line string) (result.Case, error) {
	ok := strings.HasPrefix(line, "ok ")
	rest := strings.TrimPrefix(strings.TrimPrefix(line, "not "), "ok ")
	numStr, rest, _ := strings.Cut(rest, " ")
	n, err := strconv.Atoi(numStr)
	if err != nil {
		return result.Case{}, fmt.Errorf("bad test number in %q", line)
	}
	id, directive, _ := strings.Cut(rest, " # ")
	id = strings.TrimSpace(id)
	c := result.Case{ID: id}
	if r := p.pending; r != nil && r.N == n {
		c.Expected, c.Observed, c.Reason, c.Info, c.DurationMS = r.Expected, r.Observed, r.Reason, r.Info, r.DurationMS
		if r.Same && r.Observed != nil {
			e := *r.Observed
			e.NSpid = slices.Clone(e.NSpid)
			c.Expected = &e
		}
	}
	p.pending = nil
	// The test line is authoritative for the outcome: it is what any KTAP
	// tool would read.
	dirWord, reason, _ := strings.Cut(directive, " ")
	switch {
	case ok && strings.EqualFold(dirWord, "SKIP"):
		if r, found := strings.CutPrefix(reason, unsupportedTag); found {
			c.Outcome, reason = result.Unsupported, r
		} else {
			c.Outcome = result.Skip
		}
	case ok:
		c.Outcome = result.Pass
	case strings.EqualFold(dirWord, "ERROR") || strings.EqualFold(dirWord, "TIMEOUT"):
		c.Outcome = result.Error
	default:
		c.Outcome = result.Fail
	}
	if c.Reason == "" && dirWord != "" {
		c.Reason = reason
	}
	return c, nil
}
