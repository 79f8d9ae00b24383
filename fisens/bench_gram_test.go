package fisens

import (
	"math/rand/v2"
	"testing"
)

func BenchmarkFromGram(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := newLinear(rng, 10, 9, 2)
	M := gramOf(m.J)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := FromGram(M, m.z, 3, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSolverSolve(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := newLinear(rng, 10, 9, 2)
	M := gramOf(m.J)
	s, err := NewSolver(m.z, 3, Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Solve(M); err != nil {
			b.Fatal(err)
		}
	}
}
