package datasets

import (
	"slices"
	"testing"
)

// TestPCG32KnownAnswer checks the generator core against the reference pcg32 (pcg-c-basic demo:
// srandom(42, 54) gives 0xa15c02b7 0x7b47f409 0xba1d3330 0x83d2f293 0xbfa4784b 0xcbed606e).
func TestPCG32KnownAnswer(t *testing.T) {
	r := &rng{state: 0, inc: 54<<1 | 1}
	r.next32()
	r.state += 42
	r.next32()
	want := []uint32{0xa15c02b7, 0x7b47f409, 0xba1d3330, 0x83d2f293, 0xbfa4784b, 0xcbed606e}
	got := make([]uint32, len(want))
	for i := range got {
		got[i] = r.next32()
	}
	if !slices.Equal(got, want) {
		t.Errorf("pcg32 outputs %x, want %x", got, want)
	}
}

func TestRNGUniform(t *testing.T) {
	r := newRNG(7, 1)
	const n, draws = 7, 70000
	counts := make([]int, n)
	for i := 0; i < draws; i++ {
		counts[r.intn(n)]++
	}
	// Chi-square with 6 degrees of freedom: 22.5 is the 0.999 quantile.
	chi := 0.0
	for _, c := range counts {
		d := float64(c) - draws/n
		chi += d * d / (draws / n)
	}
	if chi > 22.5 {
		t.Errorf("chi-square %.1f for counts %v", chi, counts)
	}
	for i := 0; i < 1000; i++ {
		if v := r.rangeInt(-4, 4); v < -4 || v > 4 {
			t.Fatalf("rangeInt(-4, 4) = %d", v)
		}
	}
	xs := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	got := append([]int(nil), r.choose(xs, 4)...)
	slices.Sort(xs)
	if !slices.Equal(xs, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) || len(got) != 4 {
		t.Errorf("choose is not a permutation: %v", xs)
	}
}
