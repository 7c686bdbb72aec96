package catalog

import (
	"slices"
	"testing"
)

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Shard
		ok   bool
	}{
		{"1/1", Shard{1, 1}, true},
		{"2/4", Shard{2, 4}, true},
		{"4/4", Shard{4, 4}, true},
		{"0/4", Shard{}, false},
		{"5/4", Shard{}, false},
		{"2", Shard{}, false},
		{"a/b", Shard{}, false},
		{"1/0", Shard{}, false},
	} {
		got, err := ParseShard(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if tc.ok && got.String() != tc.in {
			t.Errorf("String() = %q, want %q", got.String(), tc.in)
		}
	}
}

// TestShardPartition: the shards of every N partition the selection (each
// case in exactly one, in run order), are balanced by recorded time, and
// are the same on every call.
func TestShardPartition(t *testing.T) {
	all := All()
	var total float64
	longest := 0.0
	for _, c := range all {
		total += Duration(c.ID)
		longest = max(longest, Duration(c.ID))
	}
	for _, n := range []int{1, 2, 3, 4, 7} {
		seen := map[string]int{}
		for k := 1; k <= n; k++ {
			s := Shard{k, n}
			got := s.Pick(all)
			if again := s.Pick(all); !slices.EqualFunc(got, again, func(a, b Info) bool { return a.ID == b.ID }) {
				t.Fatalf("shard %v differs between calls", s)
			}
			var load float64
			last := -1
			for _, c := range got {
				seen[c.ID]++
				load += Duration(c.ID)
				i := slices.IndexFunc(all, func(x Info) bool { return x.ID == c.ID })
				if i < last {
					t.Errorf("shard %v: %s out of run order", s, c.ID)
				}
				last = i
			}
			// LPT: no shard exceeds the mean by more than the longest case.
			if load > total/float64(n)+longest+1e-9 {
				t.Errorf("shard %v carries %.1f ms of %.1f (mean %.1f, longest case %.1f)", s, load, total, total/float64(n), longest)
			}
		}
		if len(seen) != len(all) {
			t.Errorf("N=%d: shards cover %d of %d cases", n, len(seen), len(all))
		}
		for id, k := range seen {
			if k != 1 {
				t.Errorf("N=%d: %s is in %d shards", n, id, k)
			}
		}
	}
}

// TestShardOfSelection: sharding a --case selection splits just it, and
// a case without a recorded duration still lands somewhere.
func TestShardOfSelection(t *testing.T) {
	sel := []Info{{ID: "x/new/a"}, {ID: "x/new/b"}, {ID: "x/new/c"}}
	var got []string
	for k := 1; k <= 2; k++ {
		for _, c := range (Shard{k, 2}).Pick(sel) {
			got = append(got, c.ID)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"x/new/a", "x/new/b", "x/new/c"}) {
		t.Errorf("shards of an unrecorded selection: %v", got)
	}
}

func TestDurationsCoverTheMatrix(t *testing.T) {
	missing := 0
	for _, c := range All() {
		if _, ok := durations()[c.ID]; !ok {
			missing++
		}
	}
	// A few new cases may wait for the next reference run; most must be there.
	if missing > len(All())/10 {
		t.Errorf("%d of %d cases have no recorded duration: refresh internal/catalog/durations.json from a reference run", missing, len(All()))
	}
}
