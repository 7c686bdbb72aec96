package mutate

import "github.com/vmtest/vmtest/internal/catalog"

// Shard returns the mutants of slice s (vmtest mutate --shard K/N): the
// i-th mutant (0-based, in the order Generate gives over the targets in
// command-line order) belongs to shard i mod N + 1. Dealing by position
// is deterministic for the same source, targets and operators, puts
// every mutant in exactly one shard, and spreads each target's and each
// operator's mutants (which cost alike) evenly. The whole selection is
// returned for a whole shard.
func Shard(ms []Mutant, s catalog.Shard) []Mutant {
	if s.Whole() {
		return ms
	}
	var out []Mutant
	for i, m := range ms {
		if i%s.N == s.K-1 {
			out = append(out, m)
		}
	}
	return out
}
