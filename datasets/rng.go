package datasets

// rng is a small PCG-XSH-RR-64/32 style generator (64-bit state, SplitMix64-seeded) implemented here
// so that splits and outliers depend on nothing but the seed: no standard-library generator whose
// derived functions (Intn, Shuffle) could change between Go releases.
type rng struct{ state, inc uint64 }

// splitmix64 scrambles a 64-bit value (used to derive well-mixed initial states from small seeds).
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// newRNG returns a generator for seed on the given stream (different streams are independent).
func newRNG(seed int64, stream uint64) *rng {
	r := &rng{state: splitmix64(uint64(seed)), inc: splitmix64(stream)<<1 | 1}
	r.next32()
	return r
}

func (r *rng) next32() uint32 {
	old := r.state
	r.state = old*6364136223846793005 + r.inc
	xorshifted := uint32(((old >> 18) ^ old) >> 27)
	rot := uint32(old >> 59)
	return xorshifted>>rot | xorshifted<<((-rot)&31)
}

// intn returns a uniform integer in [0, n) by rejection sampling (n > 0, n < 2^32).
func (r *rng) intn(n int) int {
	if n <= 0 {
		panic("datasets: rng.intn with n <= 0")
	}
	bound := uint32(n)
	threshold := -bound % bound // 2^32 mod n
	for {
		x := r.next32()
		if x >= threshold {
			return int(x % bound)
		}
	}
}

// rangeInt returns a uniform integer in [lo, hi].
func (r *rng) rangeInt(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// choose moves a uniform random sample of k elements of xs (without replacement) to xs[:k]
// by a partial Fisher–Yates shuffle, and returns xs[:k].
func (r *rng) choose(xs []int, k int) []int {
	for i := 0; i < k; i++ {
		j := i + r.intn(len(xs)-i)
		xs[i], xs[j] = xs[j], xs[i]
	}
	return xs[:k]
}
