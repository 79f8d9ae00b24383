package datasets

import (
	"fmt"
	"strings"
)

// Scale says how pixel bytes become float32 model inputs.
type Scale string

const (
	// Raw255 keeps pixel values 0..255 as float32: the paper's default (no normalisation).
	Raw255 Scale = "raw255"
	// Unit divides pixel values by 255, giving inputs in [0, 1].
	Unit Scale = "unit"
)

// Factor returns the multiplier applied to pixel bytes: 1 for Raw255, 1/255 for Unit.
func (s Scale) Factor() float32 {
	if s == Unit {
		return 1.0 / 255
	}
	return 1
}

// ParseScale parses "raw255" or "unit" (also "raw", "0-255", "01", "0-1"); "" means Raw255.
func ParseScale(s string) (Scale, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "raw255", "raw", "0-255", "255":
		return Raw255, nil
	case "unit", "01", "0-1", "[0,1]":
		return Unit, nil
	}
	return "", fmt.Errorf("datasets: unknown input scale %q (want %q or %q)", s, Raw255, Unit)
}

// storage holds the images of a set by storage row; implementations are safe for concurrent reads.
type storage interface {
	// image writes the HWC bytes of row into dst (len h*w*c).
	image(row int, dst []uint8) error
	// desc names where the images come from (for error messages).
	desc() string
}

// memStorage is images held in memory, HWC, one after the other.
type memStorage struct {
	data []uint8
	size int // bytes per image
	name string
}

func (m *memStorage) image(row int, dst []uint8) error {
	copy(dst, m.data[row*m.size:(row+1)*m.size])
	return nil
}

func (m *memStorage) desc() string { return m.name }

// Set is a labelled image set with images stored channel-last (HWC) as uint8. It is either held in
// memory (MNIST, generated sets) or read on demand from files (CIFAR-10), so that memory stays
// proportional to a batch. A Set is immutable and safe for concurrent use.
type Set struct {
	name    string
	h, w, c int
	classes int
	store   storage
	labels  []uint8 // one per example
	rows    []int   // storage row of each example; nil: example i is row i
	src     []int   // source index of each example; nil: example i has source index i
}

// NewSet builds an in-memory set from HWC images (len(images) = n*h*w*c) and n labels in
// [0, classes). It copies neither slice: the caller must not modify them afterwards.
func NewSet(name string, h, w, c, classes int, images []uint8, labels []uint8) (*Set, error) {
	if h <= 0 || w <= 0 || c <= 0 {
		return nil, fmt.Errorf("datasets: NewSet %q: image dims %dx%dx%d, want positive", name, h, w, c)
	}
	if classes <= 0 || classes > 256 {
		return nil, fmt.Errorf("datasets: NewSet %q: %d classes, want 1..256", name, classes)
	}
	size := h * w * c
	if len(images) != len(labels)*size {
		return nil, fmt.Errorf("datasets: NewSet %q: %d image bytes for %d labels, want %d (= %d×%d×%d×%d)",
			name, len(images), len(labels), len(labels)*size, len(labels), h, w, c)
	}
	for i, l := range labels {
		if int(l) >= classes {
			return nil, fmt.Errorf("datasets: NewSet %q: label %d of example %d out of range [0, %d)", name, l, i, classes)
		}
	}
	return &Set{name: name, h: h, w: w, c: c, classes: classes,
		store: &memStorage{data: images, size: size, name: name}, labels: labels}, nil
}

// Name returns the set's name, "dataset/split" (e.g. "mnist/train").
func (s *Set) Name() string { return s.name }

// Len returns the number of examples.
func (s *Set) Len() int { return len(s.labels) }

// Dims returns the image height, width and channels (28, 28, 1 for MNIST; 32, 32, 3 for CIFAR-10).
func (s *Set) Dims() (h, w, c int) { return s.h, s.w, s.c }

// ImageSize returns the number of bytes (and of float32 inputs) per image: h*w*c.
func (s *Set) ImageSize() int { return s.h * s.w * s.c }

// NumClasses returns the number of classes (10 for the datasets here).
func (s *Set) NumClasses() int { return s.classes }

// Label returns the label of example i.
func (s *Set) Label(i int) int { return int(s.labels[i]) }

// SourceIndex returns the index of example i in the original files (the concatenated training
// files for train/valid/train-full, the test file for test; the base image for outliers).
func (s *Set) SourceIndex(i int) int {
	if s.src == nil {
		if i < 0 || i >= len(s.labels) {
			panic(fmt.Sprintf("datasets: %s: index %d out of range [0, %d)", s.name, i, len(s.labels)))
		}
		return i
	}
	return s.src[i]
}

func (s *Set) row(i int) int {
	if i < 0 || i >= len(s.labels) {
		panic(fmt.Sprintf("datasets: %s: index %d out of range [0, %d)", s.name, i, len(s.labels)))
	}
	if s.rows == nil {
		return i
	}
	return s.rows[i]
}

// ReadImage returns a fresh copy of image i (h*w*c bytes, HWC), or the error of reading it from disk.
func (s *Set) ReadImage(i int) ([]uint8, error) {
	dst := make([]uint8, s.ImageSize())
	if err := s.store.image(s.row(i), dst); err != nil {
		return nil, fmt.Errorf("datasets: %s: image %d: %w", s.name, i, err)
	}
	return dst, nil
}

// Image returns a fresh copy of image i (h*w*c bytes, HWC order). For sets read from disk it
// panics if a file that was validated when the set was loaded can no longer be read; use ReadImage
// to get that as an error.
func (s *Set) Image(i int) []uint8 {
	img, err := s.ReadImage(i)
	if err != nil {
		panic(err)
	}
	return img
}

// ReadBatch returns the images idx as float32 on the given scale, row-major [len(idx), H, W, C],
// or the error of reading them from disk.
func (s *Set) ReadBatch(idx []int, scale Scale) ([]float32, error) {
	size := s.ImageSize()
	out := make([]float32, len(idx)*size)
	buf := make([]uint8, size)
	f := scale.Factor()
	for b, i := range idx {
		if err := s.store.image(s.row(i), buf); err != nil {
			return nil, fmt.Errorf("datasets: %s: image %d: %w", s.name, i, err)
		}
		dst := out[b*size : (b+1)*size]
		if f == 1 {
			for k, v := range buf {
				dst[k] = float32(v)
			}
		} else {
			for k, v := range buf {
				dst[k] = float32(v) * f
			}
		}
	}
	return out, nil
}

// Batch returns the images idx as float32 on the given scale, row-major [len(idx), H, W, C].
// It panics on a disk read error like Image; ReadBatch returns it instead.
func (s *Set) Batch(idx []int, scale Scale) []float32 {
	out, err := s.ReadBatch(idx, scale)
	if err != nil {
		panic(err)
	}
	return out
}

// Labels returns the labels of examples idx.
func (s *Set) Labels(idx []int) []int32 {
	out := make([]int32, len(idx))
	for b, i := range idx {
		if i < 0 || i >= len(s.labels) {
			panic(fmt.Sprintf("datasets: %s: index %d out of range [0, %d)", s.name, i, len(s.labels)))
		}
		out[b] = int32(s.labels[i])
	}
	return out
}

// AllLabels returns a copy of every label, in order.
func (s *Set) AllLabels() []int {
	out := make([]int, len(s.labels))
	for i, l := range s.labels {
		out[i] = int(l)
	}
	return out
}

// Histogram returns the number of examples of each class.
func (s *Set) Histogram() []int {
	h := make([]int, s.classes)
	for _, l := range s.labels {
		h[l]++
	}
	return h
}

// Subset returns a view with examples idx (in that order), named "<name>[subset]". It shares the
// image storage; source indices are kept, so provenance survives sub-setting.
func (s *Set) Subset(idx []int) *Set {
	return s.subset(s.subsetName(), idx)
}

func (s *Set) subsetName() string {
	if strings.HasSuffix(s.name, "[subset]") {
		return s.name
	}
	return s.name + "[subset]"
}

// subset builds a named view with examples idx.
func (s *Set) subset(name string, idx []int) *Set {
	labels := make([]uint8, len(idx))
	rows := make([]int, len(idx))
	src := make([]int, len(idx))
	for b, i := range idx {
		rows[b] = s.row(i)
		labels[b] = s.labels[i]
		src[b] = s.SourceIndex(i)
	}
	return &Set{name: name, h: s.h, w: s.w, c: s.c, classes: s.classes, store: s.store,
		labels: labels, rows: rows, src: src}
}

// Rename returns the same set under another name (a cheap view).
func (s *Set) Rename(name string) *Set {
	t := *s
	t.name = name
	return &t
}

// Range returns the indices start, start+1, …, end-1 clipped to the set (a helper for batching).
func (s *Set) Range(start, end int) []int {
	if end > s.Len() {
		end = s.Len()
	}
	if start < 0 {
		start = 0
	}
	if end <= start {
		return nil
	}
	idx := make([]int, end-start)
	for k := range idx {
		idx[k] = start + k
	}
	return idx
}

// Concat returns a new in-memory set holding the examples of sets one after the other (e.g. clean
// training images followed by simulated outliers for fine-tuning). All sets must have the same
// image dims and number of classes. Each example keeps its SourceIndex from its own set.
func Concat(name string, sets ...*Set) (*Set, error) {
	if len(sets) == 0 {
		return nil, fmt.Errorf("datasets: Concat %q: no sets", name)
	}
	h, w, c := sets[0].Dims()
	k := sets[0].NumClasses()
	n := 0
	for _, s := range sets {
		sh, sw, sc := s.Dims()
		if sh != h || sw != w || sc != c || s.NumClasses() != k {
			return nil, fmt.Errorf("datasets: Concat %q: %s is %d×%d×%d with %d classes, want %d×%d×%d with %d classes like %s",
				name, s.Name(), sh, sw, sc, s.NumClasses(), h, w, c, k, sets[0].Name())
		}
		n += s.Len()
	}
	size := h * w * c
	imgs := make([]uint8, 0, n*size)
	labels := make([]uint8, 0, n)
	src := make([]int, 0, n)
	for _, s := range sets {
		for i := 0; i < s.Len(); i++ {
			img, err := s.ReadImage(i)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, img...)
			labels = append(labels, s.labels[i])
			src = append(src, s.SourceIndex(i))
		}
	}
	out, err := NewSet(name, h, w, c, k, imgs, labels)
	if err != nil {
		return nil, err
	}
	out.src = src
	return out, nil
}
