package run

import (
	"regexp"
	"strings"
)

// crashReport is a kernel report found on the console: a panic, an oops, a BUG
// or a WARNING.
type crashReport struct {
	// Title is one line naming the report, in the shape syzkaller and
	// kernel developers use ("BUG: kernel NULL pointer dereference,
	// address: 0000000000000000", "WARNING: at kernel/pid.c:229
	// alloc_pid", "Kernel panic - not syncing: ...").
	Title string
	// Excerpt is the report's console lines, kernel lines only.
	Excerpt string
	// Fatal tells a report that stops the kernel (panic, oops, BUG that
	// oopses) from one it survives (a WARNING, a "BUG: sleeping function
	// called from invalid context" and the like).
	Fatal bool
}

// crashPattern recognises the first line of a kernel report; the first
// match on the console is the report (a later "Kernel panic" line is
// usually the consequence of an earlier oops).
var crashPatterns = []struct {
	re    *regexp.Regexp
	fatal bool
	// title rewrites the match; "" keeps the matched text.
	title func([]string) string
}{
	// WARNING: CPU: 1 PID: 87 at kernel/pid.c:229 alloc_pid+0x3a/0x3b0
	{regexp.MustCompile(`WARNING: CPU: \d+ PID: \d+ at (\S+) ([A-Za-z0-9_.]+)`), false,
		func(m []string) string { return "WARNING: at " + m[1] + " " + m[2] }},
	{regexp.MustCompile(`WARNING: .*`), false, nil},
	{regexp.MustCompile(`kernel BUG at \S+`), true, func(m []string) string { return "BUG: " + strings.TrimPrefix(m[0], "kernel BUG ") }},
	{regexp.MustCompile(`BUG: (?:unable to handle|kernel NULL pointer|KASAN|KFENCE|Bad page|Bad rss|stack guard page|soft lockup|scheduling while atomic|corrupted).*`), true, nil},
	{regexp.MustCompile(`BUG: .*`), false, nil},
	{regexp.MustCompile(`general protection fault.*`), true, nil},
	{regexp.MustCompile(`Oops: .*`), true, nil},
	{regexp.MustCompile(`Kernel panic - not syncing: .*`), true, nil},
}

// ansiEscape matches the terminal control sequences SeaBIOS and iPXE print
// (cursor moves, colour, screen clears) before the kernel starts.
var ansiEscape = regexp.MustCompile(`\x1b(?:\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[0-9A-Za-z=>\\\]^_])`)

// printkTime is a printk timestamp prefix, "[    1.234567] ".
var printkTime = regexp.MustCompile(`^\[\s*\d+\.\d+\]\s?`)

// firmwareLine marks console lines printed before the kernel: SeaBIOS,
// iPXE and QEMU's option ROMs.
var firmwareLine = regexp.MustCompile(`^(SeaBIOS|iPXE|Booting from |Probing EDD|Press Ctrl-B|Machine UUID|Loading |booting kernel|PXE|Rom )`)

// kernelLines cleans the console: escape sequences and carriage returns
// gone, firmware lines dropped, and nothing kept from before the kernel's
// first line when there is one.
func kernelLines(console string) []string {
	// An escape sequence (a screen clear) is where firmware output ends
	// and the kernel's may begin on the same line: break the line there.
	console = ansiEscape.ReplaceAllString(console, "\n")
	console = strings.ReplaceAll(console, "\r", "\n")
	var out []string
	for _, l := range strings.Split(console, "\n") {
		l = strings.Map(func(r rune) rune {
			if r < ' ' && r != '\t' {
				return -1
			}
			return r
		}, l)
		if strings.TrimSpace(l) == "" || firmwareLine.MatchString(strings.TrimSpace(l)) {
			continue
		}
		out = append(out, l)
	}
	// SeaBIOS can leave fragments on lines of their own; the kernel's
	// own output starts with its banner or its first timestamp.
	for i, l := range out {
		if printkTime.MatchString(l) || strings.HasPrefix(l, "Linux version") {
			return out[i:]
		}
	}
	return out
}

// findCrash returns the first kernel report on the console, or nil.
func findCrash(console string) *crashReport {
	lines := kernelLines(console)
	for i, l := range lines {
		text := printkTime.ReplaceAllString(l, "")
		for _, p := range crashPatterns {
			m := p.re.FindStringSubmatch(text)
			if m == nil {
				continue
			}
			title := strings.TrimSpace(m[0])
			if p.title != nil {
				title = p.title(m)
			}
			c := &crashReport{Title: title, Fatal: p.fatal}
			// A fatal report runs to the panic; keep the call trace.
			from, to := max(0, i-5), min(len(lines), i+40)
			c.Excerpt = strings.Join(lines[from:to], "\n")
			// A survivable report that is followed by a panic is fatal
			// after all (panic_on_warn, or oops=panic).
			if !c.Fatal {
				for _, later := range lines[i:] {
					if strings.Contains(later, "Kernel panic - not syncing") {
						c.Fatal = true
						break
					}
				}
			}
			return c
		}
	}
	return nil
}
