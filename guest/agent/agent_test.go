//go:build linux

package agent

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/contract"
)

func TestParseCmdline(t *testing.T) {
	for _, tc := range []struct {
		cmdline string
		want    config
		err     string
	}{
		{"console=ttyS0 quiet", config{ResultsTTY: "ttyS1", CaseTimeout: time.Minute, Runner: contract.RunnerProxy}, ""},
		{"vmtest.results=ttyS2 vmtest.case=a/*,b/c, vmtest.case_timeout=5s vmtest.jobs=3 vmtest.debug=hang vmtest.runner=exec vmtest.exec=1",
			config{ResultsTTY: "ttyS2", Cases: []string{"a/*", "b/c"}, CaseTimeout: 5 * time.Second, Jobs: 3, Debug: "hang", Runner: contract.RunnerExec, Exec: true}, ""},
		{"vmtest.jobs=99", config{ResultsTTY: "ttyS1", CaseTimeout: time.Minute, Jobs: matrix.MaxSlots, Runner: contract.RunnerProxy}, ""},
		{"vmtest.case_timeout=soon", config{}, "case_timeout"},
		{"vmtest.case_timeout=-1s", config{}, "case_timeout"},
		{"vmtest.jobs=0", config{}, "jobs"},
		{"vmtest.runner=fork", config{}, "runner"},
	} {
		got, err := parseCmdline(tc.cmdline)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseCmdline(%q): error %v, want one naming %s", tc.cmdline, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseCmdline(%q) = %+v, %v; want %+v", tc.cmdline, got, err, tc.want)
		}
	}
}
