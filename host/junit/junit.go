// Package junit writes vmtest results as JUnit XML, the report format that
// GitLab, Jenkins and the common GitHub report actions read: one testsuite
// per matrix group, a testcase per case with the group as its classname,
// failure (with the expected and observed answers), error and skipped
// elements for the outcomes that are not a pass, and the kernel, its
// sha256 and the accelerator as properties.
//
// The elements and attributes used are those of the Jenkins JUnit schema
// (the Ant format as Jenkins reads it), so that every reader understands
// them; a flaky case, which that schema has no element for, is marked in
// its system-out and listed in its suite's "flaky" property.
package junit

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vmtest/vmtest/internal/result"
)

// Suites is the document: <testsuites>.
type Suites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Name     string   `xml:"name,attr,omitempty"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	// Skipped is not written: the Jenkins schema has no such attribute
	// on testsuites (each suite has its own).
	Skipped int     `xml:"-"`
	Time    float64 `xml:"time,attr"`
	Suites  []Suite `xml:"testsuite"`
}

// Suite is one group: <testsuite>.
type Suite struct {
	Name       string     `xml:"name,attr"`
	Tests      int        `xml:"tests,attr"`
	Failures   int        `xml:"failures,attr"`
	Errors     int        `xml:"errors,attr"`
	Skipped    int        `xml:"skipped,attr"`
	Time       float64    `xml:"time,attr"`
	Timestamp  string     `xml:"timestamp,attr,omitempty"`
	Hostname   string     `xml:"hostname,attr,omitempty"`
	Properties []Property `xml:"properties>property,omitempty"`
	Cases      []Case     `xml:"testcase"`
	SystemOut  *Text      `xml:"system-out,omitempty"`
}

// Property is a name/value pair of a suite.
type Property struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

// Case is one matrix case: <testcase>.
type Case struct {
	Name      string   `xml:"name,attr"`
	Classname string   `xml:"classname,attr"`
	Time      float64  `xml:"time,attr"`
	Failure   *Message `xml:"failure,omitempty"`
	Error     *Message `xml:"error,omitempty"`
	Skipped   *Message `xml:"skipped,omitempty"`
	SystemOut *Text    `xml:"system-out,omitempty"`
}

// Text is element content kept as CDATA, so that multi-line details and
// console excerpts read as they were written.
type Text struct {
	Text string `xml:",cdata"`
}

// Message is the body of a failure, error or skipped element: message is
// the one line a report shows, the text the detail behind it.
type Message struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",cdata"`
}

// Test is one case to report, with what the report adds to it.
type Test struct {
	result.Case
	// Flaky, when set, says the case's outcome was not the same on every
	// run of it (run --repeat, compare --confirm) and how: "pass fail pass".
	Flaky string
	// Outcome overrides the case's own outcome when set (a comparison
	// reports the verdict's outcome, not one side's).
	Outcome result.Outcome
	// Message overrides the one-line message of a failure, error or skip.
	Message string
	// Detail is added to the element's text.
	Detail string
}

// Build assembles the document: tests are grouped into suites by group
// (in the order groups first appear), and every suite gets props, the
// timestamp and the flaky property of its own cases.
func Build(name string, tests []Test, props []Property, started time.Time) Suites {
	doc := Suites{Name: name}
	index := map[string]int{}
	flaky := map[string][]string{}
	for _, t := range tests {
		group := t.Group
		if group == "" {
			group = "ungrouped"
		}
		i, ok := index[group]
		if !ok {
			i = len(doc.Suites)
			index[group] = i
			s := Suite{Name: group, Properties: append([]Property(nil), props...)}
			if !started.IsZero() {
				// The schema's timestamp is ISO 8601 without a zone.
				s.Timestamp = started.UTC().Format("2006-01-02T15:04:05")
			}
			doc.Suites = append(doc.Suites, s)
		}
		s := &doc.Suites[i]
		c := testcase(group, t)
		s.Tests++
		s.Time += c.Time
		switch {
		case c.Failure != nil:
			s.Failures++
		case c.Error != nil:
			s.Errors++
		case c.Skipped != nil:
			s.Skipped++
		}
		if t.Flaky != "" {
			flaky[group] = append(flaky[group], t.ID)
		}
		s.Cases = append(s.Cases, c)
	}
	for i := range doc.Suites {
		s := &doc.Suites[i]
		for j := range s.Properties {
			s.Properties[j].Value = xmlText(s.Properties[j].Value)
		}
		if ids := flaky[s.Name]; len(ids) > 0 {
			sort.Strings(ids)
			s.Properties = append(s.Properties, Property{Name: "flaky", Value: strings.Join(ids, " ")})
		}
		s.Time = round(s.Time)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		doc.Time += s.Time
	}
	doc.Time = round(doc.Time)
	return doc
}

// testcase renders one test: the outcome picks the element, whose message
// is the reason (or the answers, for a failure) and whose text has every
// detail a reviewer needs without opening result.json.
func testcase(group string, t Test) Case {
	c := Case{Name: t.ID, Classname: group, Time: round(t.DurationMS / 1000)}
	outcome := t.Outcome
	if outcome == "" {
		outcome = t.Case.Outcome
	}
	var detail []string
	passed := outcome == result.Pass
	if t.Rule != "" && !passed {
		detail = append(detail, "rule: "+t.Rule)
	}
	if t.Expected != nil && !passed {
		detail = append(detail, "expected: "+t.Expected.String())
	}
	if t.Observed != nil && !passed {
		detail = append(detail, "observed: "+t.Observed.String())
	}
	if t.Reason != "" {
		detail = append(detail, "reason: "+t.Reason)
	}
	if t.Info != "" {
		detail = append(detail, "info: "+t.Info)
	}
	if t.Detail != "" {
		detail = append(detail, t.Detail)
	}
	text := xmlText(strings.Join(detail, "\n"))
	msg := func(def string) string {
		if t.Message != "" {
			return t.Message
		}
		return def
	}
	switch outcome {
	case result.Fail:
		m := "expected " + answer(t.Expected) + ", observed " + answer(t.Observed)
		c.Failure = &Message{Message: msg(m), Type: "fail", Text: text}
	case result.Error:
		c.Error = &Message{Message: msg(or(t.Reason, "error")), Type: "error", Text: text}
	case result.Skip, result.Unsupported:
		c.Skipped = &Message{Message: msg(string(outcome) + ": " + or(t.Reason, "no reason given")), Text: text}
	default:
		if text != "" && t.Flaky == "" {
			c.SystemOut = &Text{text}
		}
	}
	if t.Flaky != "" {
		// The schema has no flaky element (Surefire's flakyFailure is
		// not in it): say it where every reader shows it.
		c.SystemOut = &Text{strings.TrimSpace("flaky: the outcome differed between runs: " + xmlText(t.Flaky) + "\n" + text)}
	}
	c.Name, c.Classname = xmlText(c.Name), xmlText(c.Classname)
	for _, m := range []*Message{c.Failure, c.Error, c.Skipped} {
		if m != nil {
			m.Message = xmlText(m.Message)
		}
	}
	return c
}

// Write writes doc as an XML document.
func Write(w io.Writer, doc Suites) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("write junit.xml: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("write junit.xml: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("write junit.xml: %w", err)
	}
	return nil
}

// xmlText drops what XML 1.0 cannot hold at all, even escaped: control
// characters other than tab and newlines (a console excerpt may have
// them), and invalid UTF-8.
func xmlText(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return r
		case r < 0x20, r == 0xFFFE, r == 0xFFFF, r >= 0xD800 && r <= 0xDFFF:
			return -1
		case r == utf8.RuneError:
			return '\uFFFD'
		}
		return r
	}, s)
}

func answer(a *result.Answer) string {
	if a == nil {
		return "nothing"
	}
	return a.String()
}

func or(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// round keeps milliseconds: readers show seconds, and float noise
// (0.30000000000000004) reads badly.
func round(s float64) float64 { return float64(int64(s*1000+0.5)) / 1000 }
