package models

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/fisens/fisens/fisens/weights"
)

// rawInitializers reads the float initializers of an ONNX file as written (no fisens rewrite).
func rawInitializers(t *testing.T, path string) map[string]*onnxTensor {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := parseModelProto(data)
	if err != nil {
		t.Fatal(err)
	}
	il := list(getMsg(mp, "graph"), "initializer")
	out := map[string]*onnxTensor{}
	for i := range il.Len() {
		tt, err := readTensor(il.Get(i).Message())
		if err != nil {
			t.Fatal(err)
		}
		out[tt.name] = tt
	}
	return out
}

func storedValues(t *testing.T, m *Model, path string) ([]float32, []int) {
	t.Helper()
	v := m.Store().GetVariable(path)
	if v == nil {
		t.Fatalf("no variable %s", path)
	}
	val, err := v.Value()
	if err != nil {
		t.Fatal(err)
	}
	return tensors.MustCopyFlatData[float32](val), v.Shape().Dimensions
}

// TestONNXKernelsStoredUnitsLast checks, element by element against the file's initializers, that
// an imported conv kernel [out, in, kh, kw] is stored as [kh, kw, in, out], a Gemm(transB) kernel
// [out, in] as [in, out], and everything else as in the file: the convention node knockout and
// per-channel scaling rely on.
func TestONNXKernelsStoredUnitsLast(t *testing.T) {
	for _, name := range []string{"mnist-cnn.onnx", "resnet-1x28.onnx", "densenet-3x32.onnx", "alexnet-1x28.onnx"} {
		path := filepath.Join("testdata", "onnx", name)
		raw := rawInitializers(t, path)
		m, err := LoadONNX(path, ONNXOptions{})
		if err != nil {
			t.Fatal(err)
		}
		convs, dense := 0, 0
		for _, l := range m.ONNX().Layers {
			for i, vp := range l.Vars {
				r := raw[l.Initializers[i]]
				got, dims := storedValues(t, m, vp)
				switch {
				case l.Op == "Conv" && len(r.dims) == 4 && i == 0:
					convs++
					o, in, kh, kw := r.dims[0], r.dims[1], r.dims[2], r.dims[3]
					if !slices.Equal(dims, []int{kh, kw, in, o}) {
						t.Fatalf("%s %s: stored dims %v, want [kh kw in out] = %v", name, vp, dims, []int{kh, kw, in, o})
					}
					for a := range kh {
						for b := range kw {
							for c := range in {
								for d := range o {
									if got[((a*kw+b)*in+c)*o+d] != r.f32[((d*in+c)*kh+a)*kw+b] {
										t.Fatalf("%s %s: stored[%d,%d,%d,%d] differs from the file's [%d,%d,%d,%d]", name, vp, a, b, c, d, d, c, a, b)
									}
								}
							}
						}
					}
				case l.Op == "Gemm" && len(r.dims) == 2 && i == 0 && slices.Equal(dims, []int{r.dims[1], r.dims[0]}):
					dense++
					rows, cols := r.dims[0], r.dims[1] // [out, in] in the file
					for a := range rows {
						for b := range cols {
							if got[b*rows+a] != r.f32[a*cols+b] {
								t.Fatalf("%s %s: stored[%d,%d] differs from the file's [%d,%d]", name, vp, b, a, a, b)
							}
						}
					}
				default:
					if !slices.Equal(dims, r.dims) || !slices.Equal(got, r.f32) {
						t.Fatalf("%s %s (%s input %d): stored %v differs from the file's %v", name, vp, l.Op, i, dims, r.dims)
					}
				}
			}
		}
		if convs == 0 {
			t.Fatalf("%s: no conv kernel checked", name)
		}
		t.Logf("%s: %d conv and %d transposed dense kernels checked", name, convs, dense)
	}
}

// TestONNXNodeKnockoutWholeFilters knocks out half of the filters of each conv layer of the
// PyTorch-trained CNN through fisens/weights and checks, in the file's [out, in, kh, kw] layout,
// that every output filter is either untouched or zero together with its bias.
func TestONNXNodeKnockoutWholeFilters(t *testing.T) {
	path := filepath.Join("testdata", "onnx", "mnist-cnn.onnx")
	m, err := LoadONNX(path, ONNXOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, l := range m.ONNX().Layers {
		if l.Op != "Conv" {
			continue
		}
		before, dims := storedValues(t, m, l.Vars[0])
		lp, err := weights.FindLayer(m.Store(), l.Scope)
		if err != nil {
			t.Fatal(err)
		}
		o := dims[3]
		if lp.Units != o {
			t.Fatalf("%s: %d units, want the %d output channels", l.Scope, lp.Units, o)
		}
		snap, err := weights.PerturbLayer(m.Store(), l.Scope, weights.Perturbation{Kind: weights.NodeKnockout, Q: 0.5, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		after, _ := storedValues(t, m, l.Vars[0])
		var bias []float32
		if len(l.Vars) > 1 {
			bias, _ = storedValues(t, m, l.Vars[1])
		}
		knocked := 0
		for d := range o {
			zero, same := true, true
			for k := d; k < len(after); k += o {
				zero = zero && after[k] == 0
				same = same && after[k] == before[k]
			}
			switch {
			case zero && !same:
				knocked++
				if bias != nil && bias[d] != 0 {
					t.Errorf("%s: filter %d knocked out but its bias is %v", l.Scope, d, bias[d])
				}
			case !same:
				t.Errorf("%s: filter %d partly changed", l.Scope, d)
			}
		}
		if knocked != o/2 {
			t.Errorf("%s: %d of %d filters knocked out, want %d", l.Scope, knocked, o, o/2)
		}
		if err := snap.Restore(); err != nil {
			t.Fatal(err)
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no conv layer in mnist-cnn.onnx")
	}
}
