package kbuild

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"

	"github.com/vmtest/vmtest/internal/inputerr"
)

// Patch is one patch of a series: a `git format-patch` message or a plain
// unified diff.
type Patch struct {
	// Source is the file it came from; Index its position in that file.
	Source string
	Index  int
	// Subject is the message's subject without the "[PATCH n/m]" tag.
	Subject string
	// Files are the paths the diff touches, relative to the tree.
	Files []string
	Data  []byte
}

// mboxFrom is the separator line git format-patch writes before each
// message: "From <commit> Mon Sep 17 00:00:00 2001".
var mboxFrom = regexp.MustCompile(`^From [0-9a-f]{7,64} `)

var patchTag = regexp.MustCompile(`^\[[^\]]*\]\s*`)

// ParsePatches splits a patch file (one format-patch message, an mbox of
// several, or a bare diff) into patches, and refuses files that hold no
// diff at all: applying nothing would silently build the base kernel.
func ParsePatches(path string, data []byte) ([]Patch, error) {
	var chunks [][]byte
	var cur []byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if mboxFrom.MatchString(line) && len(bytes.TrimSpace(cur)) > 0 {
			chunks = append(chunks, cur)
			cur = nil
		}
		cur = append(cur, line...)
		cur = append(cur, '\n')
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read patch %s: %w", path, err)
	}
	if len(bytes.TrimSpace(cur)) > 0 {
		chunks = append(chunks, cur)
	}
	var out []Patch
	for i, c := range chunks {
		p := Patch{Source: path, Index: i + 1, Data: c}
		p.Subject, p.Files = scanPatch(c)
		if len(p.Files) == 0 {
			return nil, inputerr.Errorf("patch", path, "message %d%s contains no diff: give git format-patch output, an mbox or a unified diff", i+1, subjectSuffix(p.Subject))
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, inputerr.Errorf("patch", path, "is empty")
	}
	return out, nil
}

func subjectSuffix(s string) string {
	if s == "" {
		return ""
	}
	return " (" + s + ")"
}

// scanPatch finds the subject (unfolding RFC 822 continuation lines) and
// the files a diff touches.
func scanPatch(data []byte) (subject string, files []string) {
	lines := strings.Split(string(data), "\n")
	seen := map[string]bool{}
	inHeader := true
	for i, l := range lines {
		if inHeader && strings.HasPrefix(l, "Subject: ") {
			s := strings.TrimPrefix(l, "Subject: ")
			for j := i + 1; j < len(lines) && (strings.HasPrefix(lines[j], " ") || strings.HasPrefix(lines[j], "\t")); j++ {
				s += " " + strings.TrimSpace(lines[j])
			}
			subject = patchTag.ReplaceAllString(s, "")
		}
		if l == "" {
			inHeader = false
		}
		for _, pre := range []string{"--- a/", "+++ b/"} {
			if strings.HasPrefix(l, pre) {
				f := strings.TrimPrefix(l, pre)
				if t := strings.IndexByte(f, '\t'); t >= 0 {
					f = f[:t]
				}
				if !seen[f] {
					seen[f] = true
					files = append(files, f)
				}
			}
		}
	}
	return subject, files
}

// ReadPatches reads each file of a series, in order.
func ReadPatches(paths []string) ([]Patch, error) {
	var all []Patch
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, inputerr.New("patch", p, unwrapPath(err))
		}
		ps, err := ParsePatches(p, data)
		if err != nil {
			return nil, err
		}
		all = append(all, ps...)
	}
	return all, nil
}

// unwrapPath drops the path an *fs.PathError repeats: the message names
// the file already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
