//go:build linux

package agent

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmtest/vmtest/guest/matrix"
	"github.com/vmtest/vmtest/internal/catalog"
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
		{"vmtest.shard=2/4", config{ResultsTTY: "ttyS1", CaseTimeout: time.Minute, Runner: contract.RunnerProxy, Shard: catalog.Shard{K: 2, N: 4}}, ""},
		{"vmtest.shard=5/4", config{}, "shard"},
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

// TestSelectCasesShard: the agent cuts a shard exactly as the host does
// (catalog.Shard.Pick over the same selection), so the host's list of
// expected cases and the guest's run agree.
func TestSelectCasesShard(t *testing.T) {
	for _, patterns := range [][]string{nil, {"set_tid/nested/*", "clone3/**"}} {
		host, err := catalog.Select(patterns)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for k := 1; k <= 3; k++ {
			sh := catalog.Shard{K: k, N: 3}
			got, err := selectCases(config{Cases: patterns, Shard: sh})
			if err != nil {
				t.Fatal(err)
			}
			want := sh.Pick(host)
			if len(got) != len(want) {
				t.Fatalf("shard %v of %q: guest %d cases, host %d", sh, patterns, len(got), len(want))
			}
			for i := range got {
				if got[i].ID != want[i].ID {
					t.Errorf("shard %v case %d: guest %s, host %s", sh, i, got[i].ID, want[i].ID)
				}
			}
			total += len(got)
		}
		if total != len(host) {
			t.Errorf("%q: shards hold %d cases, the selection %d", patterns, total, len(host))
		}
	}
}
