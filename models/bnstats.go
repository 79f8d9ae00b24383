package models

import (
	"fmt"
	"io"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/internal/progress"
	"github.com/fisens/fisens/models/ops"
)

// RecomputeBNStats re-estimates the moving statistics of every batch norm of m from the images of
// s with m's current weights ("precise batch norm"): it runs s through the network in training
// mode, in whole batches of batch images (the last partial batch is dropped; a set smaller than
// batch is one batch), and sets each batch norm's moving mean and variance to the average of its
// batch means and Bessel-corrected batch variances over those batches — what the moving averages
// of training (momentum 0.99, ops.BatchNormMomentum) converge to when the weights stop changing,
// without their memory of earlier weights. Use it after training, before inference: after a few
// hundred steps the moving averages still carry the initialisation's statistics (mean 0, variance
// 1), which on raw 0–255 pixels make the inference logits of a deep network explode. Training mode
// means dropout is on, as in the moving averages Keras keeps. It returns the number of batches
// used; a model without batch norms is left unchanged (0 batches, no error).
func RecomputeBNStats(b compute.Backend, m *Model, s *datasets.Set, batch int, progressTo io.Writer) (int, error) {
	if b == nil || m == nil {
		return 0, fmt.Errorf("models: RecomputeBNStats: nil backend or model")
	}
	p, err := newBNStatsPass(b, m)
	if err != nil {
		return 0, err
	}
	defer p.finalize()
	return p.run(s, batch, progressTo)
}

// bnStatsPass is the compiled statistics pass of a model on a backend, reused across the epochs of
// a training run (each compilation of a paper-size network takes tens of seconds).
type bnStatsPass struct {
	b        compute.Backend
	m        *Model
	exec     *model.Exec
	recorded []ops.BNStats // set when the graph is built (the same list for every input shape)
}

func newBNStatsPass(b compute.Backend, m *Model) (*bnStatsPass, error) {
	p := &bnStatsPass{b: b, m: m}
	err := catch(func() error {
		var err error
		p.exec, err = model.NewExec(b, m.store, func(scope *model.Scope, x *graph.Node) []*graph.Node {
			g := x.Graph()
			scope.Store().SetTraining(g, true)
			stop := ops.RecordBNStats(g)
			logits := m.Logits(scope, x)
			p.recorded = stop()
			out := []*graph.Node{logits} // always one output, even without batch norms
			for _, st := range p.recorded {
				out = append(out, st.BatchMean, st.BatchVariance)
			}
			return out
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("models: %s: RecomputeBNStats: %w", m.cfg.Arch, err)
	}
	return p, nil
}

func (p *bnStatsPass) finalize() {
	if p != nil && p.exec != nil {
		p.exec.Finalize()
	}
}

// run re-estimates the statistics from s (see RecomputeBNStats).
func (p *bnStatsPass) run(s *datasets.Set, batch int, progressTo io.Writer) (int, error) {
	m := p.m
	if err := m.CheckData(s); err != nil {
		return 0, err
	}
	scale, err := m.InputScale()
	if err != nil {
		return 0, err
	}
	n := s.Len()
	if n == 0 {
		return 0, fmt.Errorf("models: RecomputeBNStats: %s: no images", s.Name())
	}
	if batch <= 0 || batch > n {
		batch = min(n, PaperBatchSize)
	}
	batches := n / batch
	h, w, c := s.Dims()

	m.inference.mu.Lock()
	defer m.inference.mu.Unlock()
	if err := m.UseBackend(p.b); err != nil {
		return 0, fmt.Errorf("models: %s: %w", m.cfg.Arch, err)
	}
	if _, found := m.store.GetParam("/" + model.ParamInitialSeed); !found {
		m.store.SetParam("/"+model.ParamInitialSeed, m.cfg.Seed) // dropout's random state, as in Train
	}
	exec := p.exec
	var sums [][]float64 // per recorded statistic (mean, variance of each batch norm), summed over batches
	bar := progress.New(progressTo, "batch-norm statistics "+s.Name(), batches)
	defer bar.Done()
	for k := 0; k < batches; k++ {
		x, err := s.ReadBatch(s.Range(k*batch, (k+1)*batch), scale)
		if err != nil {
			return 0, err
		}
		err = catch(func() error {
			in := tensors.FromFlatDataAndDimensions(x, batch, h, w, c)
			defer in.FinalizeAll() // its buffer too (no garbage-collector cleanup; leaked per batch on ONNX Runtime)
			out, err := exec.Call(in)
			if err != nil {
				return err
			}
			defer func() {
				for _, t := range out {
					t.MustFinalizeAll()
				}
			}()
			if len(out) != 1+2*len(p.recorded) {
				return fmt.Errorf("the statistics pass returned %d outputs, want %d", len(out), 1+2*len(p.recorded))
			}
			if sums == nil {
				sums = make([][]float64, len(out)-1)
			}
			for i, t := range out[1:] {
				if sums[i] == nil {
					sums[i] = make([]float64, t.Shape().Size())
				}
				if err := addFlat(sums[i], t); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("models: %s: batch-norm statistics of %s, batch %d: %w", m.cfg.Arch, s.Name(), k, err)
		}
		bar.Add(1)
	}
	if len(p.recorded) == 0 {
		return 0, nil
	}
	err = catch(func() error {
		for i, st := range p.recorded {
			for j, path := range []string{st.Mean, st.Variance} {
				v := m.store.GetVariable(path)
				if v == nil {
					return fmt.Errorf("variable %s missing", path)
				}
				avg := sums[2*i+j]
				var t *tensors.Tensor
				switch v.DType() {
				case dtypes.Float32:
					vals := make([]float32, len(avg))
					for q, a := range avg {
						vals[q] = float32(a / float64(batches))
					}
					t = tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...)
				case dtypes.Float64:
					vals := make([]float64, len(avg))
					for q, a := range avg {
						vals[q] = a / float64(batches)
					}
					t = tensors.FromFlatDataAndDimensions(vals, v.Shape().Dimensions...)
				default:
					return fmt.Errorf("variable %s has dtype %s, want a float", path, v.DType())
				}
				if err := v.SetValue(t); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("models: %s: RecomputeBNStats: setting the statistics: %w", m.cfg.Arch, err)
	}
	return batches, nil
}

// addFlat adds the values of a float32 or float64 tensor to sum (same length).
func addFlat(sum []float64, t *tensors.Tensor) error {
	switch t.DType() {
	case dtypes.Float32:
		return tensors.ConstFlatData(t, func(flat []float32) {
			for j, v := range flat {
				sum[j] += float64(v)
			}
		})
	case dtypes.Float64:
		return tensors.ConstFlatData(t, func(flat []float64) {
			for j, v := range flat {
				sum[j] += v
			}
		})
	}
	return fmt.Errorf("statistics of dtype %s, want a float", t.DType())
}
