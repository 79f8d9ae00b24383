package datasets

import (
	"fmt"
	"io"

	"github.com/fisens/fisens/internal/progress"
)

// BatchData is one batch of a stream: the example indices, their inputs (row-major
// [len(Index), H, W, C] on the stream's scale) and their labels.
type BatchData struct {
	Index []int
	X     []float32
	Y     []int32
}

// BatchIndices splits 0..n-1 into consecutive chunks of at most size indices.
func BatchIndices(n, size int) [][]int {
	if size <= 0 {
		size = 1
	}
	var out [][]int
	for start := 0; start < n; start += size {
		end := min(start+size, n)
		idx := make([]int, end-start)
		for k := range idx {
			idx[k] = start + k
		}
		out = append(out, idx)
	}
	return out
}

// Stream calls fn on consecutive batches of at most size examples, in order, reading each batch
// only when it is needed (memory: one batch), with a progress bar on w (nil: silent). It stops at
// the first error, from reading or from fn.
func (s *Set) Stream(size int, scale Scale, w io.Writer, fn func(b BatchData) error) error {
	if size <= 0 {
		return fmt.Errorf("datasets: %s: Stream batch size %d, want > 0", s.name, size)
	}
	bar := progress.New(w, s.name, s.Len())
	defer bar.Done()
	for _, idx := range BatchIndices(s.Len(), size) {
		x, err := s.ReadBatch(idx, scale)
		if err != nil {
			return err
		}
		if err := fn(BatchData{Index: idx, X: x, Y: s.Labels(idx)}); err != nil {
			return err
		}
		bar.Add(len(idx))
	}
	return nil
}
