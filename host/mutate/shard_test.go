package mutate

import (
	"fmt"
	"slices"
	"testing"

	"github.com/vmtest/vmtest/internal/catalog"
)

// TestShard: the shards of a selection are disjoint, cover it, keep its
// order and differ in size by at most one.
func TestShard(t *testing.T) {
	var ms []Mutant
	for i := range 11 {
		ms = append(ms, Mutant{ID: fmt.Sprint(i)})
	}
	ids := func(ms []Mutant) (out []string) {
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	for _, tt := range []struct {
		shard string
		want  []string
	}{
		{"1/1", ids(ms)},
		{"1/3", []string{"0", "3", "6", "9"}},
		{"2/3", []string{"1", "4", "7", "10"}},
		{"3/3", []string{"2", "5", "8"}},
		{"4/4", []string{"3", "7"}},
	} {
		s, err := catalog.ParseShard(tt.shard)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(Shard(ms, s)); !slices.Equal(got, tt.want) {
			t.Errorf("shard %s = %v, want %v", tt.shard, got, tt.want)
		}
	}
	if got := Shard(ms, catalog.Shard{}); len(got) != len(ms) {
		t.Errorf("the zero shard kept %d of %d", len(got), len(ms))
	}
}
