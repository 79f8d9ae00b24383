package toy

import (
	"fmt"
	"math"

	"github.com/fisens/fisens/fisens"
	"gonum.org/v1/gonum/mat"
)

// Local is the geometry of a perturbation of the features Cols at one input, in the coordinates
// of a chart, computed both from the definitions (p × p) and by fisens (the K × K route).
type Local struct {
	X     [2]float64  // the input at which everything is evaluated
	Cols  []int       // the perturbed features (p = len(Cols))
	Chart Chart       // the coordinates τ of each perturbed feature
	Pi    []float64   // π = softmax(z) at X
	J     [][]float64 // K × p: ∂z/∂τ = ∂z/∂x_j · X'(τ)
	G     [][]float64 // p × p: the Fisher metric Jᵀ (diag(π) − ππᵀ) J
	Grad  []float64   // p: ∇f = Jᵀ (e_y − π), f = log π_y
	// NaiveFI is ∇fᵀ G⁺ ∇f from an eigen-decomposition of the p × p matrix G (eigenvalues below
	// RelTol·λ_max dropped, the same relative threshold as fisens), NaiveRank the number kept: the
	// textbook route.
	NaiveFI   float64
	NaiveRank int
	// Result is fisens' FI of the same perturbation (fisens.FromGram on J Jᵀ), with its rank, the
	// bound (1 − π_y)/π_y and the Jacobian norms in this chart.
	Result fisens.Result
}

// At computes the Local geometry at x of perturbing the features cols (nil: both) in chart ch,
// from one input Jacobian (fisens.Analyzer.InputJacobian). label is the true label (ignored by
// objectives that use the predicted one); the objective must be a log-probability.
func At(an *fisens.Analyzer, x [2]float64, label int, cols []int, ch Chart, opt fisens.Options) (*Local, error) {
	if an == nil {
		return nil, fmt.Errorf("toy: At: nil analyzer")
	}
	if err := checkCols(cols); err != nil {
		return nil, err
	}
	if cols == nil {
		cols = []int{0, 1}
	}
	tau := make([]float64, len(cols))
	for i, c := range cols {
		if err := ch.check(x[c]); err != nil {
			return nil, err
		}
		tau[i] = ch.Tau0
	}
	jac, err := an.InputJacobian(pointsBatch([][2]float64{x}, label))
	if err != nil {
		return nil, err
	}
	return localFrom(jac, 0, x, cols, ch, tau, label, opt)
}

// localFrom builds the Local geometry of example n of jac, where the perturbed features sit at
// τ = tau in chart ch around the unperturbed features x0 (the chain-rule factor is X'(x0_j, τ_j)).
func localFrom(jac *fisens.InputJacobian, n int, x0 [2]float64, cols []int, ch Chart, tau []float64, label int, opt fisens.Options) (*Local, error) {
	if opt.Objective.Grad != nil {
		return nil, fmt.Errorf("toy: objective %q: the textbook route is written for f = log π_y", opt.Objective)
	}
	if label < 0 && opt.Objective.Label == fisens.TrueLabel {
		return nil, fmt.Errorf("toy: objective %q needs a label ≥ 0 (or use fisens.LogProbPred)", opt.Objective)
	}
	if jac.P != 2 {
		return nil, fmt.Errorf("toy: the classifier's input has %d values, want 2 features", jac.P)
	}
	K, p := jac.K, len(cols)
	z := jac.LogitsOf(n)
	pi, _, err := fisens.Softmax(z)
	if err != nil {
		return nil, err
	}
	l := &Local{Cols: append([]int(nil), cols...), Chart: ch, Pi: pi, J: make([][]float64, K)}
	l.X = [2]float64{float64(jac.X[2*n]), float64(jac.X[2*n+1])}
	for k := 0; k < K; k++ {
		l.J[k] = make([]float64, p)
		row := jac.Row(n, k)
		for i, c := range cols {
			l.J[k][i] = float64(row[c]) * ch.DX(x0[c], tau[i])
		}
	}
	M := make([]float64, K*K)
	for a := 0; a < K; a++ {
		for b := 0; b < K; b++ {
			for i := 0; i < p; i++ {
				M[a*K+b] += l.J[a][i] * l.J[b][i]
			}
		}
	}
	if l.Result, err = fisens.FromGram(M, z, label, opt); err != nil {
		return nil, fmt.Errorf("toy: %w", err)
	}
	y := l.Result.Label
	// G = Jᵀ A J with A = diag(π) − ππᵀ; ∇f = Jᵀ (e_y − π).
	l.G = make([][]float64, p)
	l.Grad = make([]float64, p)
	for i := 0; i < p; i++ {
		l.G[i] = make([]float64, p)
		for a := 0; a < K; a++ {
			ga := -pi[a]
			if a == y {
				ga += 1
			}
			l.Grad[i] += l.J[a][i] * ga
		}
	}
	for i := 0; i < p; i++ {
		for j := 0; j < p; j++ {
			var s, mi, mj float64
			for a := 0; a < K; a++ {
				s += pi[a] * l.J[a][i] * l.J[a][j]
				mi += pi[a] * l.J[a][i]
				mj += pi[a] * l.J[a][j]
			}
			l.G[i][j] = s - mi*mj
		}
	}
	relTol := opt.RelTol
	if relTol <= 0 {
		relTol = fisens.DefaultRelTol
	}
	l.NaiveFI, l.NaiveRank, err = pinvQuadratic(l.G, l.Grad, relTol)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// symEigen returns the eigenvalues (ascending) and eigenvectors (columns) of the symmetric part of G.
func symEigen(G [][]float64) ([]float64, *mat.Dense, error) {
	p := len(G)
	S := mat.NewSymDense(p, nil)
	for i := 0; i < p; i++ {
		for j := i; j < p; j++ {
			S.SetSym(i, j, 0.5*(G[i][j]+G[j][i]))
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(S, true) {
		return nil, nil, fmt.Errorf("toy: eigen-decomposition of the %d × %d metric failed", p, p)
	}
	var V mat.Dense
	eig.VectorsTo(&V)
	return eig.Values(nil), &V, nil
}

// MetricEigenvalues returns the eigenvalues of G in ascending order: how fast the output moves per
// unit of the perturbation along G's principal directions (their ratio shows how close G is to
// losing rank).
func (l *Local) MetricEigenvalues() ([]float64, error) {
	vals, _, err := symEigen(l.G)
	return vals, err
}

// pinvQuadratic returns gᵀ G⁺ g and the rank used, by an eigen-decomposition of the symmetric G
// dropping eigenvalues below relTol·λ_max.
func pinvQuadratic(G [][]float64, g []float64, relTol float64) (float64, int, error) {
	p := len(g)
	vals, V, err := symEigen(G)
	if err != nil {
		return 0, 0, err
	}
	lmax := 0.0
	for _, v := range vals {
		lmax = math.Max(lmax, v)
	}
	fi, r := 0.0, 0
	for i, v := range vals {
		if lmax <= 0 || v <= relTol*lmax {
			continue
		}
		r++
		var c float64
		for k := 0; k < p; k++ {
			c += V.At(k, i) * g[k]
		}
		fi += c * c / v
	}
	return fi, r, nil
}

// Quotient returns (hᵀ∇f)²/(hᵀGh), the squared rate of change of f per unit of arc length on the
// perturbation manifold in the direction h (len p); FI is its maximum over h. A direction along
// which the output does not move gives 0 (if f does not move either) or +Inf.
func (l *Local) Quotient(h []float64) (float64, error) {
	p := len(l.Grad)
	if len(h) != p {
		return 0, fmt.Errorf("toy: Quotient: direction has %d entries, want p = %d", len(h), p)
	}
	var num, den float64
	for i := 0; i < p; i++ {
		num += h[i] * l.Grad[i]
		for j := 0; j < p; j++ {
			den += h[i] * l.G[i][j] * h[j]
		}
	}
	num *= num
	scale := 0.0
	for i := 0; i < p; i++ {
		scale = math.Max(scale, l.G[i][i])
	}
	var hh float64
	for _, v := range h {
		hh += v * v
	}
	if den <= fisens.DefaultRelTol*scale*hh {
		if num <= 1e-24*hh {
			return 0, nil
		}
		return math.Inf(1), nil
	}
	return num / den, nil
}

// Directions evaluates the Quotient for n unit directions h = (cos θ, sin θ), θ evenly spaced in
// [0, π) (h and −h give the same value), for a perturbation of both features (p = 2).
func (l *Local) Directions(n int) (theta, q []float64, err error) {
	if len(l.Grad) != 2 {
		return nil, nil, fmt.Errorf("toy: Directions needs p = 2 perturbed features, have %d", len(l.Grad))
	}
	if n < 1 {
		return nil, nil, fmt.Errorf("toy: Directions: n = %d, want ≥ 1", n)
	}
	theta, q = make([]float64, n), make([]float64, n)
	for i := range theta {
		theta[i] = math.Pi * float64(i) / float64(n)
		if q[i], err = l.Quotient([]float64{math.Cos(theta[i]), math.Sin(theta[i])}); err != nil {
			return nil, nil, err
		}
	}
	return theta, q, nil
}
