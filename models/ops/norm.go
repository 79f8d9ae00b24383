package ops

import (
	"os"
	"sync"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph" //nolint:revive
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/support/exceptions"
)

const (
	// BatchNormMomentum is the moving-average momentum of BatchNorm (Keras' default).
	BatchNormMomentum = 0.99
	// BatchNormEpsilon is added to the variance before the square root (Keras' default).
	BatchNormEpsilon = 1e-3
)

// BatchNorm normalises x [..., C] per channel (the last axis) and creates in scope the trainable
// "gamma" (ones) and "beta" (zeros) and the non-trainable moving "mean" (zeros) and "variance" (ones),
// all of shape [C]. In training mode (scope.IsTraining(g)) it uses the batch statistics and updates
// the moving averages; in inference mode it uses the moving averages. See the package doc.
// It never uses the backends' batch-norm ops. In a statistics pass (RecordBNStats) it normalises
// with the batch statistics as in training and records them instead of updating the averages.
// In training mode its gradient is the textbook fused one (batchNormTrainFused): first derivatives
// are exact, but second derivatives through a training-mode batch norm are not (a second pass sees
// first-order formulas built with the batch statistics as constants); set FISENS_BN_VJP=autodiff
// before building the graph to differentiate twice in training mode. Inference mode is plain autodiff (Cook's double
// backpropagation runs there).
func BatchNorm(scope *model.Scope, x *Node) *Node {
	if x.Rank() < 2 {
		exceptions.Panicf("ops.BatchNorm(%s): want x [B, ..., C], got %s", scope.Scope(), x.Shape())
	}
	g := x.Graph()
	c := x.Shape().Dimensions[x.Rank()-1]
	vs := shapes.Make(x.DType(), c)
	gamma := scope.WithInitializer(initializer.One).VariableWithShape("gamma", vs).SetTrainable(true)
	beta := scope.WithInitializer(initializer.Zero).VariableWithShape("beta", vs).SetTrainable(true)
	meanVar := scope.WithInitializer(initializer.Zero).VariableWithShape("mean", vs).SetTrainable(false)
	varVar := scope.WithInitializer(initializer.One).VariableWithShape("variance", vs).SetTrainable(false)

	bdims := make([]int, x.Rank()) // broadcast shape [1, ..., 1, C]
	for i := range bdims {
		bdims[i] = 1
	}
	bdims[len(bdims)-1] = c
	reduceAxes := make([]int, x.Rank()-1)
	n := 1
	for i := range reduceAxes {
		reduceAxes[i] = i
		n *= x.Shape().Dimensions[i]
	}
	gammaN, betaN := gamma.NodeValue(g), beta.NodeValue(g)

	if !scope.IsTraining(g) {
		// y = x·a + b, a = γ/√(var+ε), b = β − mean·a: two elementwise ops on the big tensor.
		a := Div(gammaN, Sqrt(AddScalar(varVar.NodeValue(g), BatchNormEpsilon)))
		b := Sub(betaN, Mul(meanVar.NodeValue(g), a))
		y := Add(Mul(x, Reshape(a, bdims...)), Reshape(b, bdims...))
		if recording(g) {
			// x̂ = (x − mean)/√(var+ε), only for the per-example γ gradients Σ δ·x̂.
			inv := Reshape(Sqrt(AddScalar(varVar.NodeValue(g), BatchNormEpsilon)), bdims...)
			xhat := Div(Sub(x, Reshape(meanVar.NodeValue(g), bdims...)), inv)
			addTap(g, Tap{Kind: "bn", Vars: map[string]string{"gamma": gamma.Path(), "beta": beta.Path()}, Input: xhat, Out: y})
		}
		return y
	}

	// Training: batch statistics (differentiated through), then update the moving averages.
	var mean, variance, y *Node
	if bnAutodiff() {
		mean = ReduceMean(x, reduceAxes...)
		xc := Sub(x, Reshape(mean, bdims...))
		variance = ReduceMean(Square(xc), reduceAxes...)
		a := Div(gammaN, Sqrt(AddScalar(variance, BatchNormEpsilon)))
		y = Add(Mul(xc, Reshape(a, bdims...)), Reshape(betaN, bdims...))
	} else {
		mean, variance, y = batchNormTrainFused(x, gammaN, betaN, bdims, reduceAxes, n)
	}

	bessel := 1.0
	if n > 1 {
		bessel = float64(n) / float64(n-1)
	}
	if list := bnStatsList(g); list != nil {
		// A statistics pass (RecordBNStats): report the batch statistics, leave the moving averages.
		*list = append(*list, BNStats{Mean: meanVar.Path(), Variance: varVar.Path(),
			BatchMean: StopGradient(mean), BatchVariance: MulScalar(StopGradient(variance), bessel)})
		return y
	}
	m := BatchNormMomentum
	meanVar.SetNodeValue(Add(MulScalar(meanVar.NodeValue(g), m), MulScalar(StopGradient(mean), 1-m)))
	varVar.SetNodeValue(Add(MulScalar(varVar.NodeValue(g), m), MulScalar(StopGradient(variance), (1-m)*bessel)))
	return y
}

// BNStats is one batch norm's statistics of one batch, recorded by a statistics pass
// (RecordBNStats): the paths of its moving "mean" and "variance" variables and the nodes of the
// batch mean and of the batch variance with Bessel's correction n/(n−1) — the two quantities the
// moving averages of training average over the batches.
type BNStats struct {
	Mean, Variance           string // paths of the moving mean and variance variables
	BatchMean, BatchVariance *Node  // [C]
}

var (
	bnStatsMu sync.Mutex
	bnStats   = map[*Graph]*[]BNStats{}
)

// RecordBNStats makes every BatchNorm built in training mode in g from now on record its batch
// statistics (BNStats, in build order) instead of updating its moving averages, until the returned
// function is called; that function returns what was recorded. It is the building block of
// "precise batch norm" (models.RecomputeBNStats): averaging the batch statistics of many batches,
// with the final weights, gives the population statistics the moving averages only approximate.
func RecordBNStats(g *Graph) (stop func() []BNStats) {
	bnStatsMu.Lock()
	defer bnStatsMu.Unlock()
	list := &[]BNStats{}
	bnStats[g] = list
	return func() []BNStats {
		bnStatsMu.Lock()
		defer bnStatsMu.Unlock()
		delete(bnStats, g)
		return *list
	}
}

// bnStatsList returns the statistics list of g when g is a statistics pass, else nil.
func bnStatsList(g *Graph) *[]BNStats {
	bnStatsMu.Lock()
	defer bnStatsMu.Unlock()
	return bnStats[g]
}

// bnAutodiff reports whether training-mode batch norm is left to GoMLX's autodiff
// (FISENS_BN_VJP=autodiff, for A/B timings) instead of the fused gradient of batchNormTrainFused.
func bnAutodiff() bool { return os.Getenv("FISENS_BN_VJP") == "autodiff" }

// bnFusedFromV makes the fused gradient use the form in v = δ·a (the fallback when δ was not caught),
// for tests.
var bnFusedFromV bool

// batchNormTrainFused computes training-mode batch norm y = (x − μ)·γ/√(σ²+ε) + β with the same ops
// (and so the same values) as the autodiff form, but with the textbook fused gradient
//
//	dβ = Σδ,  dγ = Σδ·(x − μ)/√(σ²+ε),
//	dx = a·(δ − Σδ/M − (x − μ)·Σδ·(x − μ)/(M·(σ²+ε))),  a = γ/√(σ²+ε),  M = n
//
// instead of GoMLX's differentiation through μ and σ², which emits three channel reductions over
// the big tensor (the last depending on the second) where the two sums Σδ and Σδ·(x − μ) suffice
// for all three gradients. The statistics are StopGradient'ed (their gradient is inside dx); δ, the
// gradient arriving at y, is caught by an identity with a custom gradient on y, which autodiff always
// reaches first (it is built last); x, γ and β pass through identities whose custom gradients
// compute the two sums once (per gradient) from δ and return the formulas above.
func batchNormTrainFused(x, gammaN, betaN *Node, bdims, reduceAxes []int, n int) (mean, variance, y *Node) {
	mean = StopGradient(ReduceMean(x, reduceAxes...))
	xc0 := Sub(x, Reshape(mean, bdims...))
	variance = StopGradient(ReduceMean(Square(xc0), reduceAxes...))
	inv := Inverse(Sqrt(AddScalar(variance, BatchNormEpsilon))) // 1/√(σ²+ε)
	fm := 1 / float64(n)

	// st is the state of the gradient being built: δ and, once computed, the two sums. Each of x, γ
	// and β takes it at most once (used): a later differentiation of the gradient graph itself (a
	// second derivative) never reaches y's identity again, and must not reuse this pass's δ.
	const useX, useGamma, useBeta = 0, 1, 2
	type state struct {
		delta, sd, sdx *Node
		used           [3]bool
	}
	var st *state
	var xc *Node
	sums := func() (sd, sdx *Node) {
		if st.sd == nil {
			d := st.delta
			st.sd = ReduceSum(d, reduceAxes...)
			st.sdx = ReduceSum(Mul(d, xc), reduceAxes...)
		}
		return st.sd, st.sdx
	}
	caught := func(v *Node, which int) bool {
		if st == nil || bnFusedFromV || st.delta.Graph() != v.Graph() || st.used[which] {
			return false
		}
		st.used[which] = true
		return true
	}
	gammaI := IdentityWithCustomGradient(gammaN, func(_, v *Node) *Node {
		if !caught(v, useGamma) {
			return v
		}
		_, sdx := sums()
		return Mul(sdx, inv)
	})
	betaI := IdentityWithCustomGradient(betaN, func(_, v *Node) *Node {
		if !caught(v, useBeta) {
			return v
		}
		sd, _ := sums()
		return sd
	})
	xI := IdentityWithCustomGradient(x, func(_, v *Node) *Node {
		inv2 := Square(inv)
		if !caught(v, useX) {
			// v = δ·a, the gradient of x through xc only (the statistics are constants here).
			sv := ReduceSum(v, reduceAxes...)
			svx := ReduceSum(Mul(v, xc), reduceAxes...)
			k0 := MulScalar(sv, fm)
			k1 := MulScalar(Mul(inv2, svx), fm)
			return Sub(Sub(v, Reshape(k0, bdims...)), Mul(xc, Reshape(k1, bdims...)))
		}
		sd, sdx := sums()
		a := Mul(gammaN, inv)
		// dx = a·δ − a·Σδ/M − xc·a·Σδxc/(M(σ²+ε))
		k0 := MulScalar(Mul(a, sd), fm)
		k1 := MulScalar(Mul(Mul(a, inv2), sdx), fm)
		return Sub(Sub(Mul(st.delta, Reshape(a, bdims...)), Reshape(k0, bdims...)), Mul(xc, Reshape(k1, bdims...)))
	})
	xc = Sub(xI, Reshape(mean, bdims...))
	a := Div(gammaI, Sqrt(AddScalar(variance, BatchNormEpsilon)))
	y = Add(Mul(xc, Reshape(a, bdims...)), Reshape(betaI, bdims...))
	y = IdentityWithCustomGradient(y, func(_, v *Node) *Node {
		st = &state{delta: v}
		return v
	})
	return mean, variance, y
}
