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

// gramCase is one example's float32 gradient rows of the small ResNet's largest layer: K = 10 rows of
// 147,456 values (3×3×128×128).
func gramCase() ([]float32, int, int) {
	const K, p = 10, 147456
	rng := rand.New(rand.NewPCG(3, 4))
	rows := make([]float32, K*p)
	for i := range rows {
		rows[i] = float32(rng.NormFloat64())
	}
	return rows, K, p
}

func BenchmarkGramAddF32(b *testing.B) {
	rows, K, p := gramCase()
	M := make([]float64, K*K)
	b.SetBytes(int64(4 * len(rows)))
	for i := 0; i < b.N; i++ {
		gramAddF32(M, rows, K, p)
	}
}

func BenchmarkGramAddF32Blocked(b *testing.B) {
	rows, K, p := gramCase()
	M := make([]float64, K*K)
	b.SetBytes(int64(4 * len(rows)))
	for i := 0; i < b.N; i++ {
		gramAddF32Blocked(M, rows, K, p)
	}
}
