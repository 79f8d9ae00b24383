package weights

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/fisens/fisens/fisens"
	"github.com/fisens/fisens/internal/testnet"
	"github.com/gomlx/gomlx/core/tensors"
)

func nonZeroSlice(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(1 + rng.Float64()) // never zero
	}
	return v
}

func countZeros(v []float32) int {
	n := 0
	for _, x := range v {
		if x == 0 {
			n++
		}
	}
	return n
}

func TestSynapseKnockoutCounts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	const units = 8
	for _, q := range []float64{0, 0.1, 0.37, 0.5, 0.9, 1} {
		for _, target := range []Target{KernelAndBias, KernelOnly, BiasOnly} {
			k, b := nonZeroSlice(rng, 3*3*2*units), nonZeroSlice(rng, units)
			k0, b0 := append([]float32(nil), k...), append([]float32(nil), b...)
			ck, cb, err := PerturbValues(k, b, units, "/conv1", Perturbation{Kind: SynapseKnockout, Q: q, Target: target, Seed: 3})
			if err != nil {
				t.Fatal(err)
			}
			wantK, wantB := int(math.Floor(q*float64(len(k)))), int(math.Floor(q*units))
			if target == BiasOnly {
				wantK = 0
			}
			if target == KernelOnly {
				wantB = 0
			}
			if got := countZeros(k); got != wantK {
				t.Errorf("q %v %s: %d kernel zeros, want %d", q, target, got, wantK)
			}
			if got := countZeros(b); got != wantB {
				t.Errorf("q %v %s: %d bias zeros, want %d", q, target, got, wantB)
			}
			if ck != (target != BiasOnly) || cb != (target != KernelOnly) {
				t.Errorf("%s: reported changes kernel %v, bias %v", target, ck, cb)
			}
			for i := range k {
				if k[i] != 0 && k[i] != k0[i] {
					t.Fatalf("a kept kernel entry changed")
				}
			}
			for i := range b {
				if b[i] != 0 && b[i] != b0[i] {
					t.Fatalf("a kept bias entry changed")
				}
			}
		}
	}
}

func TestNodeKnockoutRemovesWholeUnits(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	const units = 10
	for _, q := range []float64{0.1, 0.35, 0.7, 1} {
		k, b := nonZeroSlice(rng, 5*5*3*units), nonZeroSlice(rng, units)
		if _, _, err := PerturbValues(k, b, units, "/conv1", Perturbation{Kind: NodeKnockout, Q: q, Seed: 4}); err != nil {
			t.Fatal(err)
		}
		dead := 0
		for u := 0; u < units; u++ {
			zeros := 0
			for i := u; i < len(k); i += units {
				if k[i] == 0 {
					zeros++
				}
			}
			switch {
			case zeros == len(k)/units && b[u] == 0:
				dead++
			case zeros == 0 && b[u] != 0:
			default:
				t.Fatalf("q %v: unit %d partly knocked out (%d of %d kernel zeros, bias %v)", q, u, zeros, len(k)/units, b[u])
			}
		}
		if want := int(math.Floor(q * units)); dead != want {
			t.Errorf("q %v: %d units knocked out, want %d", q, dead, want)
		}
	}
}

func TestGaussianNoiseScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const n, units = 200000, 100
	k := make([]float32, n)
	for i := range k {
		k[i] = float32(0.05 * rng.NormFloat64())
	}
	_, sk := meanStd32(k)
	b := make([]float32, units) // all zero: σ = 0, left unchanged
	for _, q := range []float64{0.5, 2} {
		kk, bb := append([]float32(nil), k...), append([]float32(nil), b...)
		if _, _, err := PerturbValues(kk, bb, units, "/fc1", Perturbation{Kind: GaussianNoise, Q: q, Seed: 5}); err != nil {
			t.Fatal(err)
		}
		d := make([]float32, n)
		for i := range d {
			d[i] = kk[i] - k[i]
		}
		m, s := meanStd32(d)
		if math.Abs(s-q*sk)/(q*sk) > 0.01 || math.Abs(m) > 5*q*sk/math.Sqrt(n) {
			t.Errorf("q %v: noise mean %v, std %v, want 0 and %v", q, m, s, q*sk)
		}
		if countZeros(bb) != units {
			t.Errorf("q %v: a zero-variance bias was changed", q)
		}
	}
}

func TestWeightPerturbationSeeds(t *testing.T) {
	base := nonZeroSlice(rand.New(rand.NewPCG(4, 4)), 1000)
	run := func(seed uint64, name string) []float32 {
		k := append([]float32(nil), base...)
		if _, _, err := PerturbValues(k, nil, 10, name, Perturbation{Kind: SynapseKnockout, Q: 0.5, Seed: seed}); err != nil {
			t.Fatal(err)
		}
		return k
	}
	same := func(a, b []float32) bool {
		for i := range a {
			if a[i] != b[i] {
				return false
			}
		}
		return true
	}
	if !same(run(1, "/a"), run(1, "/a")) {
		t.Error("the same seed gave different perturbations")
	}
	if same(run(1, "/a"), run(2, "/a")) || same(run(1, "/a"), run(1, "/b")) {
		t.Error("different seeds or layers gave the same perturbation")
	}
}

func TestWeightPerturbationErrors(t *testing.T) {
	for _, p := range []Perturbation{
		{Kind: SynapseKnockout, Q: 1.5},
		{Kind: NodeKnockout, Q: -0.1},
		{Kind: GaussianNoise, Q: math.NaN()},
		{Kind: Kind(7), Q: 0.1},
	} {
		if _, _, err := PerturbValues([]float32{1, 2}, nil, 2, "/x", p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
	if _, _, err := PerturbValues([]float32{1, 2, 3}, nil, 2, "/x", Perturbation{}); err == nil {
		t.Error("a kernel that is not a multiple of the units was accepted")
	}
	if _, err := ParseKind("node-knockout"); err != nil {
		t.Error(err)
	}
	if _, err := ParseKind("dropout"); err == nil {
		t.Error("unknown kind parsed")
	}
}

func TestPerturbLayerAndRestore(t *testing.T) {
	n := testnet.NewTinyNet(1, 5, 5, 2, 3, 4, false)
	st := n.Store()
	if _, err := PerturbLayer(st, "/nope", Perturbation{}); err == nil || !strings.Contains(err.Error(), "/conv1") {
		t.Errorf("unknown scope: got %v, want the known layers listed", err)
	}
	if got := Layers(st); strings.Join(got, ",") != "/conv1,/bn1,/dense" {
		t.Errorf("Layers = %v", got)
	}
	lp, err := FindLayer(st, "/bn1")
	if err != nil || lp.Kernel.Name() != "gamma" || lp.Bias.Name() != "beta" || lp.Units != 3 {
		t.Fatalf("bn1 params: %+v, %v", lp, err)
	}
	orig := map[string][]float32{}
	for v := range st.IterVariables() {
		orig[v.Path()] = tensors.MustCopyFlatData[float32](v.MustValue())
	}
	snap, err := PerturbLayer(st, "/conv1", Perturbation{Kind: NodeKnockout, Q: 0.7, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	k := tensors.MustCopyFlatData[float32](st.GetVariable("/conv1/weights").MustValue())
	b := tensors.MustCopyFlatData[float32](st.GetVariable("/conv1/biases").MustValue())
	if countZeros(b) != 2 || countZeros(k) != 2*len(k)/3 {
		t.Errorf("node knockout of 2 of 3 filters: %d bias and %d kernel zeros", countZeros(b), countZeros(k))
	}
	if d := tensors.MustCopyFlatData[float32](st.GetVariable("/dense/weights").MustValue()); countZeros(d) != 0 {
		t.Error("another layer changed")
	}
	if err := snap.Restore(); err != nil {
		t.Fatal(err)
	}
	for v := range st.IterVariables() {
		got := tensors.MustCopyFlatData[float32](v.MustValue())
		for i := range got {
			if got[i] != orig[v.Path()][i] {
				t.Fatalf("%s not restored", v.Path())
			}
		}
	}
	// A perturbed store is what executors see.
	an, err := fisens.NewAnalyzer(testnet.Backend(t), n)
	if err != nil {
		t.Fatal(err)
	}
	x, shape, labels := testnet.RandomBatch(1, 2, 5, 5, 2, 4)
	batch := fisens.Batch{X: x, Shape: shape, Labels: labels}
	z0, err := an.Logits(batch)
	if err != nil {
		t.Fatal(err)
	}
	snap, err = PerturbLayer(st, "/dense", Perturbation{Kind: SynapseKnockout, Q: 1, Target: KernelOnly, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	z1, err := an.Logits(batch)
	if err != nil {
		t.Fatal(err)
	}
	bias := orig["/dense/biases"]
	for i := range z1 {
		if math.Abs(float64(z1[i]-bias[i%4])) > 1e-6 {
			t.Fatalf("with the dense kernel knocked out the logits should be its biases: got %v, want %v", z1[i], bias[i%4])
		}
	}
	_ = snap.Restore()
	z2, _ := an.Logits(batch)
	for i := range z0 {
		if z0[i] != z2[i] {
			t.Fatal("logits differ after Restore")
		}
	}
}

// Node knockout of half of a dense layer's 4 units: their kernel columns and biases become 0.
func ExamplePerturbValues() {
	kernel := []float32{ // [in = 2, units = 4], row-major
		1, 2, 3, 4,
		5, 6, 7, 8,
	}
	bias := []float32{0.1, 0.2, 0.3, 0.4}
	_, _, err := PerturbValues(kernel, bias, 4, "/fc1", Perturbation{Kind: NodeKnockout, Q: 0.5, Seed: 1})
	if err != nil {
		panic(err)
	}
	fmt.Println(kernel, bias)
	// Output: [1 0 3 0 5 0 7 0] [0.1 0 0.3 0]
}

func TestDrawReplacesAFractionByOwnValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const units = 8
	for _, q := range []float64{0, 0.1, 0.5, 1} {
		k := make([]float32, 3*3*2*units)
		for i := range k {
			k[i] = float32(i + 1) // distinct values: each draw's source is identifiable
		}
		k0 := append([]float32(nil), k...)
		b := nonZeroSlice(rng, units)
		if _, _, err := PerturbValues(k, b, units, "/conv1", Perturbation{Kind: Draw, Q: q, Target: KernelOnly, Seed: 9}); err != nil {
			t.Fatal(err)
		}
		want := int(math.Floor(q * float64(len(k))))
		changed, used := 0, map[float32]int{}
		for i := range k {
			if k[i] != k0[i] {
				changed++
			}
			if k[i] < 1 || k[i] > float32(len(k)) || k[i] != float32(int(k[i])) {
				t.Fatalf("q %v: entry %d = %v is not one of the variable's values", q, i, k[i])
			}
			used[k[i]]++
		}
		// ⌊q·n⌋ entries are replaced; a replaced entry may receive its own value, so at most that many change.
		if changed > want || (want > 10 && changed < want/2) {
			t.Errorf("q %v: %d entries changed, want about %d", q, changed, want)
		}
		// The values are drawn without replacement: no value appears more than twice (once kept, once drawn).
		for v, n := range used {
			if n > 2 {
				t.Fatalf("q %v: value %v appears %d times", q, v, n)
			}
		}
	}
	if _, err := ParseKind("draw"); err != nil {
		t.Error(err)
	}
	if _, _, err := PerturbValues([]float32{1, 2}, nil, 1, "x", Perturbation{Kind: Draw, Q: 1.5}); err == nil {
		t.Error("q > 1: want an error")
	}
}
