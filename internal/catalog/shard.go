package catalog

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// durationsJSON holds each case's guest time in milliseconds from a
// reference run (Debian's 6.1 kernel under TCG, the slowest setting CI
// meets). Shards are balanced by it. It is data in the repository, not a
// measurement of the machine at hand, so that every job of a CI matrix,
// on whatever runner, cuts the matrix the same way.
//
//go:embed durations.json
var durationsJSON []byte

var durations = sync.OnceValue(func() map[string]float64 {
	d := map[string]float64{}
	if err := json.Unmarshal(durationsJSON, &d); err != nil {
		panic("internal/catalog/durations.json: " + err.Error())
	}
	return d
})

// defaultDurationMS stands in for a case the reference run did not have
// (one added since): about a typical case.
const defaultDurationMS = 2

// Duration is the case's recorded guest time in milliseconds.
func Duration(id string) float64 {
	if d, ok := durations()[id]; ok && d > 0 {
		return d
	}
	return defaultDurationMS
}

// Shard is one slice K of N (1 ≤ K ≤ N) of a case selection.
type Shard struct {
	K int `json:"k"`
	N int `json:"n"`
}

// ParseShard reads "K/N".
func ParseShard(s string) (Shard, error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, kerr := strconv.Atoi(ks)
	n, nerr := strconv.Atoi(ns)
	if !ok || kerr != nil || nerr != nil || n < 1 || k < 1 || k > n {
		return Shard{}, fmt.Errorf("want K/N with 1 ≤ K ≤ N, e.g. 2/4 (got %q)", s)
	}
	return Shard{K: k, N: n}, nil
}

// String is "K/N".
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Whole reports whether s is the whole selection (the zero Shard or 1/1).
func (s Shard) Whole() bool { return s.N <= 1 }

// Pick returns the cases of shard s, in run order. Every case lands in
// exactly one of the N shards, decided only by the case IDs in the
// selection and the recorded durations: longest first, each to the shard
// with the least time so far (ties to the lower shard), the classic
// longest-processing-time rule, which keeps the slowest shard within 4/3
// of the best possible split.
func (s Shard) Pick(cases []Info) []Info {
	if s.Whole() {
		return slices.Clone(cases)
	}
	order := make([]int, len(cases))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		da, db := Duration(cases[a].ID), Duration(cases[b].ID)
		switch {
		case da > db:
			return -1
		case da < db:
			return 1
		}
		return strings.Compare(cases[a].ID, cases[b].ID)
	})
	load := make([]float64, s.N)
	in := make([]bool, len(cases))
	for _, i := range order {
		best := 0
		for j := 1; j < s.N; j++ {
			if load[j] < load[best] {
				best = j
			}
		}
		load[best] += Duration(cases[i].ID)
		in[i] = best == s.K-1
	}
	var out []Info
	for i, c := range cases {
		if in[i] {
			out = append(out, c)
		}
	}
	return out
}
