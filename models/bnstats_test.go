package models

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/fisens/fisens/backend"
)

// TestRecomputeBNStats checks the re-estimated batch-norm statistics of the test conv net against
// its conv1 outputs computed here in Go: with one batch of all images, the population mean and the
// Bessel-corrected variance; with four batches, the same mean and the average of the four batch
// variances. A model without batch norms is left alone.
func TestRecomputeBNStats(t *testing.T) {
	b := backend.Must("go")
	s := tSynthSet(t, "synth/bn", 32, 3)
	cfg := tconvCfg()
	cfg.Dropout = 0 // the pass runs in training mode: dropout would make the statistics random
	m := tInitialized(t, cfg, s)
	scale, err := m.InputScale()
	if err != nil {
		t.Fatal(err)
	}

	// conv1 (3×3, 'same', 1 → 4 channels, bias) of every image, per channel, in float64.
	w := tensors.MustCopyFlatData[float32](m.Store().GetVariable("/conv1/weights").MustValue()) // [3, 3, 1, 4]
	bias := tensors.MustCopyFlatData[float32](m.Store().GetVariable("/conv1/biases").MustValue())
	const h, wd, c = 8, 8, 4
	x, err := s.ReadBatch(s.Range(0, s.Len()), scale)
	if err != nil {
		t.Fatal(err)
	}
	conv := make([][]float64, s.Len()) // [image][pixel*c + channel]
	for i := range conv {
		conv[i] = make([]float64, h*wd*c)
		for y := range h {
			for xx := range wd {
				for co := range c {
					v := float64(bias[co])
					for dy := range 3 {
						for dx := range 3 {
							yy, xi := y+dy-1, xx+dx-1
							if yy < 0 || yy >= h || xi < 0 || xi >= wd {
								continue
							}
							v += float64(w[(dy*3+dx)*c+co]) * float64(x[i*h*wd+yy*wd+xi]) / 255
						}
					}
					conv[i][(y*wd+xx)*c+co] = v
				}
			}
		}
	}
	// stats returns the mean and Bessel-corrected variance per channel of images [lo, hi).
	stats := func(lo, hi int) (mean, vr []float64) {
		mean, vr = make([]float64, c), make([]float64, c)
		n := float64((hi - lo) * h * wd)
		for i := lo; i < hi; i++ {
			for p, v := range conv[i] {
				mean[p%c] += v / n
			}
		}
		for i := lo; i < hi; i++ {
			for p, v := range conv[i] {
				vr[p%c] += (v - mean[p%c]) * (v - mean[p%c]) / (n - 1)
			}
		}
		return mean, vr
	}
	check := func(batch int, wantMean, wantVar []float64) {
		t.Helper()
		n, err := RecomputeBNStats(b, m, s, batch, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n != s.Len()/batch {
			t.Errorf("batch %d: %d batches, want %d", batch, n, s.Len()/batch)
		}
		gm := tensors.MustCopyFlatData[float32](m.Store().GetVariable("/bn1/mean").MustValue())
		gv := tensors.MustCopyFlatData[float32](m.Store().GetVariable("/bn1/variance").MustValue())
		for k := range c {
			if math.Abs(float64(gm[k])-wantMean[k]) > 1e-5*(1+math.Abs(wantMean[k])) || math.Abs(float64(gv[k])-wantVar[k]) > 1e-4*wantVar[k] {
				t.Errorf("batch %d, channel %d: moving mean/variance %g/%g, want %g/%g", batch, k, gm[k], gv[k], wantMean[k], wantVar[k])
			}
		}
	}
	mean, vr := stats(0, s.Len())
	check(s.Len(), mean, vr)
	avgVar := make([]float64, c)
	for q := range 4 {
		_, v := stats(q*8, (q+1)*8)
		for k := range c {
			avgVar[k] += v[k] / 4
		}
	}
	check(8, mean, avgVar)
	logits, err := Predict(b, m, s, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, z := range logits {
		if math.IsNaN(float64(z)) || math.IsInf(float64(z), 0) {
			t.Fatalf("logit %d is %g after RecomputeBNStats", i, z)
		}
	}

	lin := tInitialized(t, Config{Arch: "trainer-test-linear", Height: 8, Width: 8, Channels: 1, Classes: 3, Seed: 1}, s)
	if n, err := RecomputeBNStats(b, lin, s, 8, nil); err != nil || n != 0 {
		t.Errorf("a model without batch norms: %d batches, %v; want 0, nil", n, err)
	}
}

// TestTrainBNStatsImages: with BNStatsImages, the trained model (and its best/ checkpoint) carries
// the statistics re-estimated over the seeded sample with the final weights, and training.json
// records the setting.
func TestTrainBNStatsImages(t *testing.T) {
	b := backend.Must("go")
	train := tSynthSet(t, "synth/train", 64, 4)
	cfg := tconvCfg()
	cfg.Dropout = 0
	m := tNewModel(t, cfg)
	dir := filepath.Join(t.TempDir(), "run")
	tc := TrainConfig{Epochs: 1, BatchSize: 8, LearningRates: []float64{0.01}, Seed: 3, Dir: dir, BNStatsImages: 16}
	if _, err := Train(context.Background(), b, m, train, nil, tc); err != nil {
		t.Fatal(err)
	}
	value := func(m *Model, p string) []float32 {
		return tensors.MustCopyFlatData[float32](m.Store().GetVariable(p).MustValue())
	}
	trained := [][]float32{value(m, "/bn1/mean"), value(m, "/bn1/variance")}
	if trained[1][0] == 1 || trained[0][0] == 0 {
		t.Fatalf("moving statistics %v: not re-estimated", trained)
	}
	best, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx := rand.New(rand.NewPCG(uint64(tc.Seed), streamBNStats)).Perm(train.Len())[:16]
	if _, err := RecomputeBNStats(b, m, train.Subset(idx), 8, nil); err != nil {
		t.Fatal(err)
	}
	for i, p := range []string{"/bn1/mean", "/bn1/variance"} {
		again, saved := value(m, p), value(best, p)
		for k := range again {
			if again[k] != trained[i][k] || saved[k] != trained[i][k] {
				t.Errorf("%s[%d]: after Train %g, in best/ %g, re-estimated on the same images %g", p, k, trained[i][k], saved[k], again[k])
			}
		}
	}
	info, err := os.ReadFile(filepath.Join(dir, BestDir, trainInfoFile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(info), `"bn_stats_images": 16`) {
		t.Errorf("training.json does not record bn_stats_images 16:\n%s", info)
	}
}
