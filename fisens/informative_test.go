package fisens

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"gonum.org/v1/gonum/mat"
)

func TestFisherSpectrumIsTheMetricsSpectrum(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const K = 6
	for _, P := range []int{2, 5, 9} {
		m := newLinear(rng, K, P, 1)
		vals, err := FisherSpectrum(gramOf(m.J), m.z)
		if err != nil {
			t.Fatal(err)
		}
		// The naive p × p metric G = Jᵀ A J.
		A, _ := softmaxJacobian(m.z)
		var AJ, G mat.Dense
		AJ.Mul(A, m.J)
		G.Mul(m.J.T(), &AJ)
		var eig mat.EigenSym
		eig.Factorize(symmetrize(&G), false)
		g := eig.Values(nil) // ascending
		nz := min(P, K-1)
		for i := 0; i < nz; i++ {
			if math.Abs(vals[i]-g[P-1-i]) > 1e-9*vals[0] {
				t.Errorf("P=%d: eigenvalue %d: %g, naive %g", P, i, vals[i], g[P-1-i])
			}
		}
		for i := nz; i < K; i++ {
			if math.Abs(vals[i]) > 1e-9*vals[0] {
				t.Errorf("P=%d: eigenvalue %d = %g, want 0", P, i, vals[i])
			}
		}
	}
}

func TestCookFromJacobianMatchesCookOnReLUNet(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 4, 4, 1, 2, 10
	net := newTinyNet(41, H, W, C, F, K, false)
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(42, 1, H, W, C, K)
	jac, err := a.InputJacobian(batch)
	if err != nil {
		t.Fatal(err)
	}
	for _, cols := range [][]int{{5}, {0, 1, 4}, PatchColumns(H, W, C, 1, 1, 0, 3)} {
		want, err := a.Cook(batch, Perturbation{InputCols: cols}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		J := make([]float64, K*len(cols))
		for k := 0; k < K; k++ {
			for i, q := range cols {
				J[k*len(cols)+i] = float64(jac.Row(0, k)[q])
			}
		}
		got, err := CookFromJacobian(J, jac.LogitsOf(0), batch.Labels[0], Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !close(got.Curvature, want.Curvature, 1e-4) || !close(got.GradNorm, want.GradNorm, 1e-4) || !close(got.FI.FI, want.FI.FI, 1e-4) {
			t.Errorf("cols %v: curvature %g, |∇f| %g, FI %g; Cook says %g, %g, %g", cols, got.Curvature, got.GradNorm, got.FI.FI,
				want.Curvature, want.GradNorm, want.FI.FI)
		}
	}
}

func close(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))+1e-12
}

func TestChannelScalerIsTheChannelDerivative(t *testing.T) {
	b := testBackend(t)
	const H, W, C, F, K = 4, 4, 1, 3, 10
	net := newTinyNet(43, H, W, C, F, K, false)
	a, _ := NewAnalyzer(b, net)
	batch := randomBatch(44, 1, H, W, C, K)
	if _, err := a.Logits(batch); err != nil {
		t.Fatal(err)
	}
	for _, layer := range []string{"/bn1", "/conv1"} {
		cs, err := NewChannelScaler(a, layer)
		if err != nil {
			t.Fatal(err)
		}
		if cs.Channels != F {
			t.Fatalf("%s: %d channels, want %d", layer, cs.Channels, F)
		}
		z, J, err := cs.Jacobian(batch)
		if err != nil {
			t.Fatal(err)
		}
		// Central differences: scale channel c of every variable of the layer by 1 ± h. The net is
		// linear in one layer's channel scale away from ReLU kinks (bn1 sits after the ReLU).
		const h = 1e-3
		for c := 0; c < F; c++ {
			var zs [2][]float32
			for s, sign := range []float64{1, -1} {
				var restore []func()
				for _, path := range cs.Layer.Vars {
					v := net.Store().GetVariable(path)
					old, _ := v.Value()
					vals := tensors.MustCopyFlatData[float32](old)
					dims := old.Shape().Dimensions
					nv := append([]float32(nil), vals...)
					for i := c; i < len(nv); i += F {
						nv[i] *= float32(1 + sign*h)
					}
					_ = v.SetValue(tensors.FromFlatDataAndDimensions(nv, dims...))
					restore = append(restore, func() { _ = v.SetValue(tensors.FromFlatDataAndDimensions(vals, dims...)) })
				}
				zs[s], _ = a.Logits(batch)
				for _, r := range restore {
					r()
				}
			}
			for k := 0; k < K; k++ {
				fd := (float64(zs[0][k]) - float64(zs[1][k])) / (2 * h)
				if math.Abs(fd-J[k*F+c]) > 2e-3*math.Max(1, math.Abs(fd)) {
					t.Errorf("%s channel %d class %d: Jacobian %g, finite difference %g", layer, c, k, J[k*F+c], fd)
				}
			}
		}
		if len(z) != K {
			t.Fatalf("%d logits", len(z))
		}
	}
	if _, err := NewChannelScaler(a, "/nope"); err == nil {
		t.Error("unknown layer: want an error")
	}
}
