package experiments

import (
	"context"
	"fmt"

	"github.com/fisens/fisens/datasets"
	"github.com/fisens/fisens/fisens"
)

// The data every experiment reads: dataset options, seeded samples of a split, batches, and the
// input FI table of a sample.

// dataOptions are the options of every dataset an experiment loads: progress to c.Progress, and
// the data directory dir unless it is "" (the default location).
func dataOptions(c Common, dir string) []datasets.Option {
	opts := []datasets.Option{datasets.WithProgress(c.Progress)}
	if dir != "" {
		opts = append(opts, datasets.WithDir(dir))
	}
	return opts
}

// ReadBatch reads examples idx of set on the input scale as a fisens.Batch with their labels. A size
// above len(idx) pads the batch to size examples by repeating the last one, so that every batch of
// a loop has one shape and its graphs compile once; the results of the padding are to be ignored.
func ReadBatch(set *datasets.Set, idx []int, scale datasets.Scale, size int) (fisens.Batch, error) {
	if len(idx) == 0 {
		return fisens.Batch{}, fmt.Errorf("%s: a batch of no examples", set.Name())
	}
	full := idx
	if size > len(idx) {
		full = make([]int, size)
		copy(full, idx)
		for i := len(idx); i < size; i++ {
			full[i] = idx[len(idx)-1]
		}
	}
	x, err := set.ReadBatch(full, scale)
	if err != nil {
		return fisens.Batch{}, err
	}
	labels := make([]int, len(full))
	for i, j := range full {
		labels[i] = set.Label(j)
	}
	h, w, ch := set.Dims()
	return fisens.Batch{X: x, Shape: []int{len(full), h, w, ch}, Labels: labels}, nil
}

// streamExamples is the generator stream of the examples the per-example setups (1, 3, 4, the
// identity figure, the one-pixel study) draw: one stream, so that they draw the same images from a
// split and share their rows of the input FI tables.
const streamExamples = 1

// inputFISample is the input FI table of a seeded sample of one split (see sampleInputFI).
type inputFISample struct {
	Set      *datasets.Set
	Rows     []InputFIRow
	File     string // the table's CSV (this shard's under --shard)
	Complete bool   // false for a run over one shard
}

// sampleInputFI computes (or reads back) the whole-image input FI of n examples of split drawn on
// the per-example stream (all of them for n ≤ 0), in batches of batch examples: the same rows
// whichever setup asks, so Setups 1, 3 and 4 and the identity figure share their tables.
func sampleInputFI(ctx context.Context, c Common, lm *LoadedModel, split string, n, batch int, convention string) (inputFISample, error) {
	set, err := lm.Set(split)
	if err != nil {
		return inputFISample{}, fmt.Errorf("%s: %w", lm.Name, err)
	}
	spec := InputFISpec{Model: lm, Split: split, Set: set, Indices: datasets.SampleIndices(set.Len(), n, c.Seed, streamExamples),
		Batch: batch, Convention: convention}
	file, err := InputFIPath(c, spec)
	if err != nil {
		return inputFISample{}, err
	}
	rs, complete, err := InputFITable(ctx, c, spec)
	if err != nil {
		return inputFISample{}, fmt.Errorf("%s: %w", lm.Name, err)
	}
	return inputFISample{Set: set, Rows: rs, File: c.Shard.Path(file), Complete: complete}, nil
}
