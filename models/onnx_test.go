package models_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/fisens/fisens/backend"
	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/models"
)

// The ONNX fixtures and their PyTorch float64 references are written by scripts/onnx-fixtures.sh.
const onnxDir = "testdata/onnx"

type refLayer struct {
	Initializers   []string    `json:"initializers"`
	Params         int         `json:"params"`
	Gram           [][]float64 `json:"gram"`
	FI             float64     `json:"fi"`
	Rank           int         `json:"rank"`
	Bound          float64     `json:"bound"`
	JacNorm        float64     `json:"jacnorm"`
	SoftmaxJacNorm float64     `json:"softmax_jacnorm"`
}

type refExample struct {
	X        []float64           `json:"x"`
	Label    int                 `json:"label"`
	LogP     []float64           `json:"logp"`
	Pred     int                 `json:"pred"`
	JacRow   []float64           `json:"jac_row_label"`
	refLayer                     // input perturbation
	Layers   map[string]refLayer `json:"layers"`
}

type refFixture struct {
	File          string   `json:"file"`
	SHA256        string   `json:"sha256"`
	Layout        string   `json:"layout"`
	Height        int      `json:"height"`
	Width         int      `json:"width"`
	Channels      int      `json:"channels"`
	Classes       int      `json:"classes"`
	Output        string   `json:"output"`
	Ops           []string `json:"ops"`
	Params        int      `json:"params"`
	Preprocessing struct {
		Scale float64   `json:"scale"`
		Mean  []float64 `json:"mean"`
		Std   []float64 `json:"std"`
	} `json:"preprocessing"`
	Examples []refExample `json:"examples"`
}

type refFile struct {
	Generator string                `json:"generator"`
	Fixtures  map[string]refFixture `json:"fixtures"`
}

var (
	refsOnce sync.Once
	refs     refFile
	refsErr  error
)

func loadRefs(t *testing.T) refFile {
	t.Helper()
	refsOnce.Do(func() {
		data, err := os.ReadFile(filepath.Join(onnxDir, "references.json"))
		if err != nil {
			refsErr = err
			return
		}
		refsErr = json.Unmarshal(data, &refs)
	})
	if refsErr != nil {
		t.Fatalf("reading the ONNX references (scripts/onnx-fixtures.sh writes them): %v", refsErr)
	}
	return refs
}

func loadFixture(t *testing.T, name string, f refFixture) *models.Model {
	t.Helper()
	m, err := models.LoadONNX(filepath.Join(onnxDir, f.File), models.ONNXOptions{
		Scale: f.Preprocessing.Scale, Mean: f.Preprocessing.Mean, Std: f.Preprocessing.Std})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

// onnxTestBackends are the backends the imported models are checked on: pure Go always, ONNX
// Runtime with the build tag onnx (onnx_onnx_test.go).
var onnxTestBackends = []string{"go"}

func batchOf(f refFixture, ex []refExample) fisens.Batch {
	p := f.Height * f.Width * f.Channels
	b := fisens.Batch{Shape: []int{len(ex), f.Height, f.Width, f.Channels}, X: make([]float32, 0, len(ex)*p)}
	for _, e := range ex {
		for _, v := range e.X {
			b.X = append(b.X, float32(v))
		}
		b.Labels = append(b.Labels, e.Label)
	}
	return b
}

func logSoftmax(z []float64) []float64 {
	mx := math.Inf(-1)
	for _, v := range z {
		mx = math.Max(mx, v)
	}
	s := 0.0
	for _, v := range z {
		s += math.Exp(v - mx)
	}
	out := make([]float64, len(z))
	for i, v := range z {
		out[i] = v - mx - math.Log(s)
	}
	return out
}

// TestONNXImportStructureAcrossBackends checks what LoadONNX decides for every fixture (layout,
// sizes, classes, output kind, groups) and that the forward pass matches PyTorch's float64
// log-probabilities on every backend.
func TestONNXImportForwardAcrossBackends(t *testing.T) {
	r := loadRefs(t)
	if len(r.Fixtures) < 13 {
		t.Fatalf("references.json has %d fixtures, want ≥ 13", len(r.Fixtures))
	}
	for _, be := range onnxTestBackends {
		b, err := backend.New(be)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for name, f := range r.Fixtures {
			m := loadFixture(t, name, f)
			cfg := m.Config()
			info := m.ONNX()
			if cfg.Height != f.Height || cfg.Width != f.Width || cfg.Channels != f.Channels || cfg.Classes != f.Classes {
				t.Errorf("%s: config %dx%dx%d K=%d, want %dx%dx%d K=%d", name, cfg.Height, cfg.Width, cfg.Channels, cfg.Classes,
					f.Height, f.Width, f.Channels, f.Classes)
			}
			if info.Layout != f.Layout || info.Output != f.Output {
				t.Errorf("%s: layout %s output %s, want %s %s", name, info.Layout, info.Output, f.Layout, f.Output)
			}
			if info.SHA256 != f.SHA256 {
				t.Errorf("%s: sha256 %s, references.json was made from %s (rerun scripts/onnx-fixtures.sh)", name, info.SHA256, f.SHA256)
			}
			// Every parameter of the PyTorch model is a variable, in a group of its consuming node.
			params, trainable := 0, 0
			for v := range m.Store().IterVariables() {
				if v.Trainable {
					trainable += v.Shape().Size()
				}
			}
			for _, l := range info.Layers {
				for i := range l.Vars {
					if l.Trainable[i] {
						params += m.Store().GetVariable(l.Vars[i]).Shape().Size()
					}
				}
			}
			if params != f.Params || trainable != f.Params {
				t.Errorf("%s: %d trainable parameters in the groups, %d in the store; PyTorch has %d", name, params, trainable, f.Params)
			}
			an, err := fisens.NewAnalyzer(b, m)
			if err != nil {
				t.Fatal(err)
			}
			bt := batchOf(f, f.Examples)
			z, err := an.Logits(bt)
			if err != nil {
				t.Fatalf("%s on %s: %v", name, be, err)
			}
			K := f.Classes
			for n, e := range f.Examples {
				zz := make([]float64, K)
				for k := range zz {
					zz[k] = float64(z[n*K+k])
				}
				lp := logSoftmax(zz)
				for k := range lp {
					d := math.Abs(lp[k] - e.LogP[k])
					worst = math.Max(worst, d)
					if d > 2e-4*math.Max(1, math.Abs(e.LogP[k])) {
						t.Errorf("%s on %s: example %d: log p[%d] = %.7g, PyTorch float64 %.7g", name, be, n, k, lp[k], e.LogP[k])
					}
				}
			}
		}
		t.Logf("%s: largest |log p − PyTorch float64| over %d fixtures × 3 inputs: %.2e", be, len(r.Fixtures), worst)
	}
}

func relErr(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(math.Abs(want), 1e-12)
}

// gramErr is max |G − R| / max |R| over two K × K matrices.
func gramErr(got []float64, want [][]float64) float64 {
	K := len(want)
	mx, d := 0.0, 0.0
	for i := range K {
		for j := range K {
			mx = math.Max(mx, math.Abs(want[i][j]))
			d = math.Max(d, math.Abs(got[i*K+j]-want[i][j]))
		}
	}
	return d / mx
}

// TestONNXImportGradientsAcrossBackends compares input Jacobians (Gram matrix of the log-probability
// Jacobian, its row for the label), FI, rank and both Jacobian norms, and the same for one layer of
// each kind, with PyTorch's float64 values. The gradients of MaxPool (pure Go), Pad, average pooling
// and strided convolutions (ONNX Runtime) come from the backend decorator in backend/, and the Pad
// gradient from the VJP it registers in GoMLX: this test fails if any of them regresses.
func TestONNXImportGradientsAcrossBackends(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	r := loadRefs(t)
	// float32 Jacobians: eigenvalues of Q below 1e-6 λ_max are rounding noise of a structurally
	// rank-deficient Gram matrix (dead ReLUs); the references use 1e-10 in float64.
	opt := fisens.Options{RelTol: 1e-6}
	var ambiguous []string
	for _, be := range onnxTestBackends {
		b, err := backend.New(be)
		if err != nil {
			t.Fatal(err)
		}
		var worstGram, worstFI, worstNorm, worstRow, worstLayer float64
		for name, f := range r.Fixtures {
			m := loadFixture(t, name, f)
			an, err := fisens.NewAnalyzer(b, m)
			if err != nil {
				t.Fatal(err)
			}
			bt := batchOf(f, f.Examples)
			jac, err := an.InputJacobian(bt)
			if err != nil {
				t.Fatalf("%s on %s: input Jacobian: %v", name, be, err)
			}
			res, err := an.InputFI(bt, fisens.Additive, opt)
			if err != nil {
				t.Fatalf("%s on %s: %v", name, be, err)
			}
			K := f.Classes
			for n, e := range f.Examples {
				// Gram of the log-probability Jacobian: (I − 1πᵀ) J Jᵀ (I − π1ᵀ).
				lp := logSoftmax(jac.LogitsOf(n))
				M := jac.Gram(n, nil, fisens.Additive)
				C := make([]float64, K*K)
				for i := range K {
					for j := range K {
						C[i*K+j] = -math.Exp(lp[j])
						if i == j {
							C[i*K+j]++
						}
					}
				}
				G := mulABt(mulAB(C, M, K), C, K)
				if d := gramErr(G, e.Gram); d > 1e-3 {
					t.Errorf("%s on %s: example %d: input Gram differs from PyTorch by %.2e (relative to its largest entry)", name, be, n, d)
				} else {
					worstGram = math.Max(worstGram, d)
				}
				got := res[n]
				if got.Rank != e.Rank {
					t.Errorf("%s on %s: example %d: rank %d, PyTorch %d", name, be, n, got.Rank, e.Rank)
				}
				for _, c := range []struct {
					what      string
					got, want float64
					tol       float64
					worst     *float64
				}{{"FI", got.FI, e.FI, 2e-3, &worstFI}, {"bound", got.Bound, e.Bound, 2e-3, &worstFI},
					{"jacnorm", got.JacNorm, e.JacNorm, 2e-3, &worstNorm}, {"softmax_jacnorm", got.SoftmaxJacNorm, e.SoftmaxJacNorm, 2e-3, &worstNorm}} {
					if d := relErr(c.got, c.want); d > c.tol {
						t.Errorf("%s on %s: example %d: %s = %.7g, PyTorch float64 %.7g (relative error %.1e)", name, be, n, c.what, c.got, c.want, d)
					} else {
						*c.worst = math.Max(*c.worst, d)
					}
				}
				if n == 0 {
					// ∂ log π_y / ∂x = (e_y − π)ᵀ J.
					row := make([]float64, jac.P)
					for k := range K {
						w := -math.Exp(lp[k])
						if k == e.Label {
							w++
						}
						for q, v := range jac.Row(n, k) {
							row[q] += w * float64(v)
						}
					}
					mx, d := 0.0, 0.0
					for q := range row {
						mx = math.Max(mx, math.Abs(e.JacRow[q]))
						d = math.Max(d, math.Abs(row[q]-e.JacRow[q]))
					}
					if d/mx > 1e-3 {
						t.Errorf("%s on %s: input Jacobian row of the label differs from PyTorch by %.2e (relative to its largest entry)", name, be, d/mx)
					}
					worstRow = math.Max(worstRow, d/mx)
				}
			}
			// One layer of each kind, on the first example.
			e := f.Examples[0]
			byInits := map[string]string{}
			for _, l := range m.ONNX().Layers {
				var tr []string
				for i, in := range l.Initializers {
					if l.Trainable[i] {
						tr = append(tr, in)
					}
				}
				byInits[strings.Join(tr, ",")] = l.Scope
			}
			for kind, rl := range e.Layers {
				scope, ok := byInits[strings.Join(rl.Initializers, ",")]
				if !ok {
					t.Errorf("%s: no group holds exactly the initializers %v (groups: %v)", name, rl.Initializers, byInits)
					continue
				}
				one := fisens.Batch{X: bt.X[:f.Height*f.Width*f.Channels], Shape: []int{1, f.Height, f.Width, f.Channels}, Labels: bt.Labels[:1]}
				pr, err := an.ParamFI(one, fisens.ParamOptions{Options: opt, Only: []string{scope}})
				if err != nil {
					t.Fatalf("%s on %s: layer %s: %v", name, be, scope, err)
				}
				lr := pr.PerGroup[0]
				if pr.Groups[0].Params != rl.Params {
					t.Errorf("%s: layer %s has %d parameters, PyTorch %d", name, scope, pr.Groups[0].Params, rl.Params)
				}
				// Jacobian norms: a direct comparison of the parameter gradients.
				for _, c := range []struct {
					what      string
					got, want float64
				}{{"jacnorm", lr.JacNorm, rl.JacNorm}, {"softmax_jacnorm", lr.SoftmaxJacNorm, rl.SoftmaxJacNorm}} {
					if d := relErr(c.got, c.want); d > 2e-3 {
						t.Errorf("%s on %s: layer %s (%s): %s = %.7g, PyTorch float64 %.7g (relative error %.1e)", name, be, scope, kind, c.what, c.got, c.want, d)
					} else {
						worstLayer = math.Max(worstLayer, d)
					}
				}
				// FI and rank: compared with the reference recomputed at fisens' threshold (1e-6 λ_max)
				// where the reference spectrum has no eigenvalue near it (1e-7 … 1e-5 λ_max).
				refFI, refRank, clear, why := refAtThreshold(rl.Gram, e.LogP, e.Label)
				rl.FI, rl.Rank = refFI, refRank
				if !clear {
					ambiguous = append(ambiguous, fmt.Sprintf("%s/%s %s layer %s: %s (fisens rank %d FI %.4g, PyTorch rank %d FI %.4g, bound %.4g)",
						be, name, kind, scope, why, lr.Rank, lr.FI, rl.Rank, rl.FI, rl.Bound))
					if lr.FI > rl.Bound*(1+1e-3) {
						t.Errorf("%s on %s: layer %s: FI %.7g above the bound %.7g", name, be, scope, lr.FI, rl.Bound)
					}
					continue
				}
				if lr.Rank != rl.Rank {
					t.Errorf("%s on %s: layer %s (%s): rank %d, PyTorch %d", name, be, scope, kind, lr.Rank, rl.Rank)
				}
				if d := relErr(lr.FI, rl.FI); d > 2e-3 {
					t.Errorf("%s on %s: layer %s (%s): FI = %.7g, PyTorch float64 %.7g (relative error %.1e)", name, be, scope, kind, lr.FI, rl.FI, d)
				} else {
					worstLayer = math.Max(worstLayer, d)
				}
			}
		}
		t.Logf("%s: largest relative differences from PyTorch float64: input Gram %.1e, label Jacobian row %.1e, FI/bound %.1e, Jacobian norms %.1e, per-layer FI and norms %.1e",
			be, worstGram, worstRow, worstFI, worstNorm, worstLayer)
	}
	if len(ambiguous) > 0 {
		t.Logf("per-layer FI and rank not compared where float32 cannot resolve the reference's spectrum (Jacobian norms were), %d checks:\n  %s",
			len(ambiguous), strings.Join(ambiguous, "\n  "))
	}
}

func mulAB(a, b []float64, K int) []float64 {
	out := make([]float64, K*K)
	for i := range K {
		for j := range K {
			s := 0.0
			for k := range K {
				s += a[i*K+k] * b[k*K+j]
			}
			out[i*K+j] = s
		}
	}
	return out
}

func mulABt(a, b []float64, K int) []float64 {
	out := make([]float64, K*K)
	for i := range K {
		for j := range K {
			s := 0.0
			for k := range K {
				s += a[i*K+k] * b[j*K+k]
			}
			out[i*K+j] = s
		}
	}
	return out
}

// refAtThreshold recomputes the reference FI and rank from its Gram matrix M with the test's
// threshold: Q = D (I − 1πᵀ) M (I − π1ᵀ) D, eigenvalues below 1e-6 λ_max dropped, FI = [Q⁺Q]_yy/π_y.
// clear is false when an eigenvalue lies within a factor 10 of the threshold.
func refAtThreshold(gram [][]float64, logp []float64, y int) (fi float64, rank int, clear bool, why string) {
	K := len(gram)
	pi := make([]float64, K)
	for i, v := range logp {
		pi[i] = math.Exp(v)
	}
	M := make([]float64, K*K)
	for i := range K {
		for j := range K {
			M[i*K+j] = gram[i][j]
		}
	}
	C := make([]float64, K*K)
	for i := range K {
		for j := range K {
			C[i*K+j] = -pi[j]
			if i == j {
				C[i*K+j]++
			}
		}
	}
	Q := mulABt(mulAB(C, M, K), C, K)
	sym := mat.NewSymDense(K, nil)
	for i := range K {
		for j := i; j < K; j++ {
			sym.SetSym(i, j, math.Sqrt(pi[i]*pi[j])*(Q[i*K+j]+Q[j*K+i])/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, true) {
		return 0, 0, false, "eigen-decomposition failed"
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	mx := 0.0
	for _, v := range vals {
		mx = math.Max(mx, v)
	}
	clear = true
	proj := 0.0
	for i, v := range vals {
		r := v / mx
		if r > 1e-7 && r < 1e-5 {
			clear, why = false, fmt.Sprintf("eigenvalue ratio %.1e", r)
		}
		if r > 1e-6 {
			rank++
			proj += vecs.At(y, i) * vecs.At(y, i)
		}
	}
	return proj / pi[y], rank, clear, why
}
