package datasets

import "sort"

// RNG is the project's seeded generator (PCG-XSH-RR 64/32, SplitMix64-seeded; see rng.go): every
// random choice of examples, pixels or splits uses it, so that results depend on nothing but the
// seed — no standard-library generator whose derived functions could change between Go releases.
type RNG struct{ r *rng }

// NewRNG returns the generator for seed on stream; different streams are independent.
func NewRNG(seed int64, stream uint64) *RNG { return &RNG{newRNG(seed, stream)} }

// IntN returns a uniform integer in [0, n) (0 < n < 2^32), without modulo bias.
func (g *RNG) IntN(n int) int { return g.r.intn(n) }

// SampleIndices returns n of the indices 0..total-1, sorted (all of them when n ≤ 0 or
// n ≥ total): the first n of a permutation drawn by a partial Fisher–Yates shuffle on the
// generator (seed, stream). So a larger n keeps every index of a smaller one, and a resumed run
// that asks for more examples reuses the ones already done.
func SampleIndices(total, n int, seed int64, stream uint64) []int {
	all := make([]int, max(total, 0))
	for i := range all {
		all[i] = i
	}
	if n <= 0 || n >= total {
		return all
	}
	out := append([]int(nil), newRNG(seed, stream).choose(all, n)...)
	sort.Ints(out)
	return out
}
