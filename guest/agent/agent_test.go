package agent

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/result"
)

func TestParseCmdline(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		want    Config
		err     string
	}{
		{"console=ttyS0 quiet", Config{ResultsTTY: "ttyS1", CaseTimeout: time.Minute, Runner: RunnerProxy}, ""},
		{"vmtest.results=ttyS2 vmtest.case=a/*,b/c, vmtest.case_timeout=5s vmtest.jobs=3 vmtest.debug=hang vmtest.runner=exec vmtest.exec=1",
			Config{ResultsTTY: "ttyS2", Cases: []string{"a/*", "b/c"}, CaseTimeout: 5 * time.Second, Jobs: 3, Debug: "hang", Runner: RunnerExec, Exec: true}, ""},
		{"vmtest.jobs=99", Config{ResultsTTY: "ttyS1", CaseTimeout: time.Minute, Jobs: matrix.MaxSlots, Runner: RunnerProxy}, ""},
		{"vmtest.case_timeout=soon", Config{}, "case_timeout"},
		{"vmtest.case_timeout=-1s", Config{}, "case_timeout"},
		{"vmtest.jobs=0", Config{}, "jobs"},
		{"vmtest.runner=fork", Config{}, "runner"},
	} {
		got, err := ParseCmdline(tc.cmdline)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseCmdline(%q): error %v, want one naming %s", tc.cmdline, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseCmdline(%q) = %+v, %v; want %+v", tc.cmdline, got, err, tc.want)
		}
	}
}

// TestRunAll: results are reported in matrix order whatever order the
// workers finish in, every case exactly once; exclusive cases run alone,
// after all the others; serial cases run on worker 0, never two at once,
// and not only after the ordinary ones.
func TestRunAll(t *testing.T) {
	var cases []matrix.Case
	for i := range 12 {
		cases = append(cases, matrix.Case{ID: string(rune('a' + i)), Exclusive: i == 3 || i == 7, Serial: i == 5 || i == 9 || i == 10})
	}
	var mu sync.Mutex
	running, runningSerial, sharedLeft := 0, 0, 10
	var problems []string
	runOne := func(c matrix.Case, slot int) result.Case {
		mu.Lock()
		running++
		if c.Exclusive && (running != 1 || sharedLeft != 0) {
			problems = append(problems, c.ID+" ran beside other cases")
		}
		if c.Serial {
			runningSerial++
			if runningSerial != 1 {
				problems = append(problems, c.ID+" ran beside another serial case")
			}
			if slot != 0 {
				problems = append(problems, fmt.Sprintf("serial case %s ran on worker %d", c.ID, slot))
			}
			if sharedLeft < 7 {
				problems = append(problems, c.ID+" waited for the ordinary cases")
			}
		}
		mu.Unlock()
		// Later cases finish first, to shuffle completion order.
		time.Sleep(time.Duration(len(cases)-int(c.ID[0]-'a')) * time.Millisecond)
		mu.Lock()
		running--
		if c.Serial {
			runningSerial--
		}
		if !c.Exclusive {
			sharedLeft--
		}
		mu.Unlock()
		return result.Case{ID: c.ID, Outcome: result.Pass}
	}
	var order []string
	err := runAll(t.Context(), cases, 3, runOne, func(r result.Case) error {
		order = append(order, r.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ""); got != "abcdefghijkl" {
		t.Errorf("reported in order %q, want matrix order", got)
	}
	for _, p := range problems {
		t.Error(p)
	}
}
