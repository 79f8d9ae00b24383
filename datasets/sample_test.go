package datasets

import (
	"slices"
	"testing"
)

func TestSampleIndices(t *testing.T) {
	a := SampleIndices(1000, 50, 7, 1)
	b := SampleIndices(1000, 200, 7, 1)
	if len(a) != 50 || len(b) != 200 {
		t.Fatalf("lengths %d, %d, want 50, 200", len(a), len(b))
	}
	if !slices.IsSorted(a) || !slices.IsSorted(b) {
		t.Fatal("indices are not sorted")
	}
	// A larger sample contains the smaller one (resumed runs reuse what is done).
	for _, i := range a {
		if _, ok := slices.BinarySearch(b, i); !ok {
			t.Fatalf("index %d of the 50-sample is missing from the 200-sample", i)
		}
	}
	seen := map[int]bool{}
	for _, i := range b {
		if seen[i] || i < 0 || i >= 1000 {
			t.Fatalf("bad or repeated index %d", i)
		}
		seen[i] = true
	}
	if !slices.Equal(a, SampleIndices(1000, 50, 7, 1)) {
		t.Fatal("same seed gave another sample")
	}
	if slices.Equal(a, SampleIndices(1000, 50, 8, 1)) {
		t.Fatal("another seed gave the same sample")
	}
	if slices.Equal(a, SampleIndices(1000, 50, 7, 2)) {
		t.Fatal("another stream gave the same sample")
	}
	for _, n := range []int{0, -1, 5, 9} {
		if all := SampleIndices(5, n, 1, 1); !slices.Equal(all, []int{0, 1, 2, 3, 4}) {
			t.Fatalf("n = %d of 5 gave %v, want all", n, all)
		}
	}
	if none := SampleIndices(0, 3, 1, 1); len(none) != 0 {
		t.Fatalf("a sample of nothing: %v", none)
	}
	// Uniformity: every index of 10 is drawn about equally often as the first of a 1-sample.
	counts := make([]int, 10)
	for s := int64(0); s < 5000; s++ {
		counts[SampleIndices(10, 1, s, 1)[0]]++
	}
	for i, n := range counts {
		if n < 400 || n > 600 {
			t.Fatalf("index %d drawn %d times of 5000, want about 500 (%v)", i, n, counts)
		}
	}
}

func TestRNGIntN(t *testing.T) {
	a, b := NewRNG(3, 9), NewRNG(3, 9)
	for range 100 {
		x, y := a.IntN(17), b.IntN(17)
		if x != y || x < 0 || x >= 17 {
			t.Fatalf("IntN: %d, %d", x, y)
		}
	}
}
